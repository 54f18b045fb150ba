import type { ReasoningSigner } from './model.js';

/**
 * Reasoning another provider format signed, as a surface shows it to its client: the signature (or
 * encrypted data) behind a prefix that names its signer. The client sends it back as it got it; the
 * gateway then returns it to its signer's format only (Gemini 3 needs its thought signatures back for
 * function calling), and leaves it out for any other, which would refuse the whole request over it.
 * An Anthropic client that moves its history from a Gemini model to a Claude model is one such.
 * Another format's file reference is kept in a stored conversation the same way, with its issuer.
 */
const PREFIX = 'kwf1.';
const SIGNERS: ReadonlySet<string> = new Set<ReasoningSigner>(['anthropic', 'gemini', 'openai']);

/** `value` as a surface of `format` shows it: wrapped when `signedBy` is another format. */
export function shownSignature(
  value: string,
  signedBy: ReasoningSigner | undefined,
  format: ReasoningSigner,
): string {
  return signedBy === undefined || signedBy === format ? value : `${PREFIX}${signedBy}.${value}`;
}

/** The prefix alone, for the first piece of a streamed signature (`shownSignature` for the rest). */
export const signaturePrefix = (signedBy: ReasoningSigner): string => `${PREFIX}${signedBy}.`;

/**
 * A signature or encrypted data a client of a surface of format `own` sent back, unwrapped, with
 * its signer: the one it was wrapped under, else `own`, since a surface shows its own format's
 * unwrapped. Left unsigned, a Claude signature sent back by an Anthropic client went to a Gemini
 * model it moved to, which refuses the whole request over it. An empty one has no signer.
 */
export function readSignature(
  shown: string,
  own: ReasoningSigner,
): { value: string; signedBy?: ReasoningSigner } {
  const unwrapped = shown === '' ? { value: shown } : { value: shown, signedBy: own };
  if (!shown.startsWith(PREFIX)) return unwrapped;
  const dot = shown.indexOf('.', PREFIX.length);
  const signer = dot < 0 ? '' : shown.slice(PREFIX.length, dot);
  if (!SIGNERS.has(signer)) return unwrapped;
  return { value: shown.slice(dot + 1), signedBy: signer as ReasoningSigner };
}

/** Whether a value a client sent back is another format's, wrapped (see `shownSignature`). */
export const isWrapped = (value: unknown): boolean => typeof value === 'string' && value.startsWith(PREFIX);

/** How a wrapped value starts inside a JSON string: a body without it holds none. */
export const WRAPPED_IN_JSON = `"${PREFIX}`;
