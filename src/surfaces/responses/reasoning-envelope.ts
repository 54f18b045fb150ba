import type { ReasoningSigner, RedactedThinkingPart, ThinkingPart } from '../../canonical/model.js';
import { badRequest } from '../../errors/gateway-error.js';

/**
 * A reasoning item's `encrypted_content`: opaque to clients, as OpenAI's is, and sent back by the
 * clients that keep the state themselves (the Vercel AI SDK with `store: false` sends the item's
 * `encrypted_content` and its summary, never its `content`). It carries what the provider needs to
 * take the reasoning back: a thinking block's text and signature, or a redacted block's data, and
 * the format that signed it (`f`), so that a conversation continued with a provider of another
 * format does not send it a signature it refuses. Not sealed: the text is the client's to read,
 * and the provider checks the signature.
 */
const PREFIX = 'kwr1.';
const SIGNERS: ReadonlySet<unknown> = new Set<ReasoningSigner>(['anthropic', 'gemini', 'openai']);
const isSigner = (value: unknown): value is ReasoningSigner => SIGNERS.has(value);
/**
 * OpenAI's own `encrypted_content` is a Fernet token: its version byte (0x80) and the high bytes of
 * its timestamp read `gAAAAA` in base64. Anthropic's and Gemini's signatures are protobufs, whose
 * first byte is a field tag, not 0x80.
 */
const OPENAI_ENCRYPTED = 'gAAAAA';

export function encodeReasoning(part: ThinkingPart | RedactedThinkingPart): string | null {
  const signer = part.signedBy !== undefined ? { f: part.signedBy } : {};
  const inner =
    part.type === 'redacted_thinking'
      ? { r: part.data, ...signer }
      : part.signature !== undefined
        ? { t: part.text, s: part.signature, ...signer }
        : undefined;
  return inner ? PREFIX + Buffer.from(JSON.stringify(inner)).toString('base64url') : null;
}

/**
 * The part an `encrypted_content` of Keyward's stands for; undefined for any other value (an
 * Anthropic signature given before there were envelopes, OpenAI's own encrypted reasoning), which
 * the caller reads as before. An envelope made before the signer was recorded has no `f`: its
 * part says nothing of its signer, and goes to any provider as it did then. `field` names the
 * value as the client's surface calls it (the Gemini surface carries it in a `thoughtSignature`).
 */
export function decodeReasoning(
  value: string,
  param: string,
  field = 'encrypted_content',
): ThinkingPart | RedactedThinkingPart | undefined {
  if (!value.startsWith(PREFIX)) return undefined;
  let inner: unknown;
  try {
    inner = JSON.parse(Buffer.from(value.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    inner = undefined;
  }
  const fields = typeof inner === 'object' && inner !== null ? (inner as Record<string, unknown>) : {};
  const { f } = fields;
  if (f === undefined || isSigner(f)) {
    const signer = f !== undefined ? { signedBy: f } : {};
    if (typeof fields.r === 'string') return { type: 'redacted_thinking', data: fields.r, ...signer };
    if (typeof fields.t === 'string' && typeof fields.s === 'string')
      return { type: 'thinking', text: fields.t, signature: fields.s, ...signer };
  }
  throw badRequest(`${field} is damaged: send back the value a response gave, unchanged`, {
    param,
    code: 'invalid_value',
  });
}

/** Who made an `encrypted_content` that is not Keyward's envelope, when its form tells. */
export function rawReasoningSigner(value: string): ReasoningSigner | undefined {
  return value.startsWith(OPENAI_ENCRYPTED) ? 'openai' : undefined;
}
