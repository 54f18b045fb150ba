import { isWrapped } from '../../canonical/foreign-signature.js';
import { isRecord } from '../wire-values.js';
import { signForeignCalls, takesThinkingLevel } from './codec.js';

/**
 * What the same-format path (a Gemini-surface body going to a Gemini provider) does to the client's
 * validated body on its way: everything else in it goes as the client sent it.
 */

type Body = Record<string, unknown>;

const items = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

const foreignSigned = (part: unknown): boolean => isRecord(part) && isWrapped(part.thoughtSignature);

/**
 * The request without the thought signatures another format made, which the Gemini surface shows
 * wrapped (`shownSignature`): Gemini refuses the whole request over one ("Corrupted thought
 * signature"), so a client moving from a Claude model to a Gemini one would fail on every turn. A
 * turn holding one is another model's answer: its thoughts are left out (a stream shows a thought
 * in pieces, the signature on the last), as the codec leaves out thinking Gemini did not sign, and
 * its other parts lose only the wrapped signature. Such a turn is then treated as the codec treats
 * one Gemini never signed: on Gemini 3 its first function call gets Google's stand-in, since
 * Gemini 3 refuses a call replayed without a signature. The request itself comes back when
 * nothing in it is wrapped.
 */
export function withoutForeignSignatures(request: Body, model: string): Body {
  const contents = items(request.contents);
  if (!contents.some((content) => isRecord(content) && items(content.parts).some(foreignSigned)))
    return request;
  const signsCalls = takesThinkingLevel(model);
  const kept = contents.flatMap((content) => {
    if (!isRecord(content) || !items(content.parts).some(foreignSigned)) return [content];
    const parts = items(content.parts)
      .filter(isRecord)
      .flatMap((part): Body[] => {
        if (part.thought === true) return [];
        // A copy, for the stand-in: the client's body may yet go to another target.
        if (!foreignSigned(part)) return [{ ...part }];
        const { thoughtSignature: _foreign, ...rest } = part;
        return [rest];
      });
    if (signsCalls) signForeignCalls(parts);
    // Gemini refuses a turn without parts (one that held only another model's thoughts).
    return parts.length > 0 ? [{ ...content, parts }] : [];
  });
  return { ...request, contents: kept };
}
