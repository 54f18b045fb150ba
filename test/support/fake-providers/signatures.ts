/**
 * Reasoning signatures as the real providers treat them: Anthropic and Gemini sign the thinking
 * they send with their own keys and refuse (400) a request that replays a signature they did not
 * make. The fakes record which format played each scripted signature; a fake refuses one that only
 * another fake played, and OpenAI's encrypted reasoning (a Fernet token, `gAAAAA…`), which no fake
 * plays since none serves OpenAI's Responses API. A signature no fake played (a test's own) passes:
 * nothing tells whose it is.
 */

export type SigningFormat = 'anthropic' | 'gemini';

const players = new Map<string, Set<SigningFormat>>();
const OPENAI_ENCRYPTED = 'gAAAAA';

/** `format` sent this signature in an answer. */
export function played(format: SigningFormat, signature: string): void {
  const formats = players.get(signature) ?? new Set();
  formats.add(format);
  players.set(signature, formats);
}

/** Whether a provider of `format` would refuse this signature as another's. */
export function foreign(format: SigningFormat, signature: unknown): boolean {
  if (typeof signature !== 'string') return false;
  if (signature.startsWith(OPENAI_ENCRYPTED)) return true;
  const formats = players.get(signature);
  return formats !== undefined && !formats.has(format);
}
