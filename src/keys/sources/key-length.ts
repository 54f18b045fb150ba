import { KeySourceError } from './errors.js';

/**
 * The longest provider key taken. Real ones are far shorter (OpenAI's project keys ~170
 * characters, Anthropic's 108, Gemini's 39, Azure's 32 or 84; a JWT for a self-hosted server a
 * few KB at most); a longer value is a secret manager holding something else (a certificate, a
 * whole JSON document), which would go out in every request's header.
 */
export const MAX_KEY_LENGTH = 4096;

/** A key longer than MAX_KEY_LENGTH is refused; `which` names it (`key #2 in …`), never its value. */
export function checkKeyLength(value: string, which: string): void {
  if (value.length > MAX_KEY_LENGTH) {
    throw new KeySourceError(
      `${which} is ${value.length} characters, longer than the ${MAX_KEY_LENGTH} a provider key can be; it cannot be a real key`,
    );
  }
}
