import type { RedactedThinkingPart, ThinkingPart } from '../../canonical/model.js';
import { UnsupportedFeature } from '../../canonical/model.js';

/**
 * A reasoning item's `encrypted_content`: opaque to clients, as OpenAI's is, and sent back by the
 * clients that keep the state themselves (the Vercel AI SDK with `store: false` sends the item's
 * `encrypted_content` and its summary, never its `content`). It carries what the provider needs to
 * take the reasoning back: an Anthropic thinking block's text and signature, or a redacted block's
 * data. Not sealed: the text is the client's to read, and the provider checks the signature.
 */
const PREFIX = 'kwr1.';

export function encodeReasoning(part: ThinkingPart | RedactedThinkingPart): string | null {
  const inner =
    part.type === 'redacted_thinking'
      ? { r: part.data }
      : part.signature !== undefined
        ? { t: part.text, s: part.signature }
        : undefined;
  return inner ? PREFIX + Buffer.from(JSON.stringify(inner)).toString('base64url') : null;
}

/**
 * The part an `encrypted_content` of Keyward's stands for; undefined for any other value (an
 * Anthropic signature given before there were envelopes), which the caller reads as before.
 */
export function decodeReasoning(
  value: string,
  param: string,
): ThinkingPart | RedactedThinkingPart | undefined {
  if (!value.startsWith(PREFIX)) return undefined;
  let inner: unknown;
  try {
    inner = JSON.parse(Buffer.from(value.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    inner = undefined;
  }
  const fields = typeof inner === 'object' && inner !== null ? (inner as Record<string, unknown>) : {};
  if (typeof fields.r === 'string') return { type: 'redacted_thinking', data: fields.r };
  if (typeof fields.t === 'string' && typeof fields.s === 'string')
    return { type: 'thinking', text: fields.t, signature: fields.s };
  throw new UnsupportedFeature(
    'encrypted_content is damaged: send back the value a response gave, unchanged',
    param,
  );
}
