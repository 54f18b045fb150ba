import type { EmbeddingsList, Usage } from '../providers/index.js';
import type { InputShare } from '../upstream/index.js';

/** One part of an embeddings request sent in parts: its body, and its share of the whole's input. */
export interface EmbeddingPart {
  body: Record<string, unknown>;
  share: InputShare;
}

/**
 * An embeddings body whose input is more than `max` inputs, as consecutive bodies of at most
 * `max` inputs each, in input order; undefined when it fits one call. Each part's share is its
 * inputs' bytes as JSON over all the inputs': what the reservation, made from the body's size,
 * holds for it.
 */
export function embeddingParts(body: Record<string, unknown>, max: number): EmbeddingPart[] | undefined {
  const { input } = body;
  if (!Array.isArray(input) || input.length <= max) return undefined;
  const bytes = input.map((item) => Buffer.byteLength(JSON.stringify(item)));
  const total = bytes.reduce((sum, size) => sum + size, 0);
  const parts: EmbeddingPart[] = [];
  let before = 0;
  for (let at = 0; at < input.length; at += max) {
    let after = before;
    for (const size of bytes.slice(at, at + max)) after += size;
    // The last part's `to` is exactly 1, and each `from` the part before's `to`: the shares meet.
    const share = { from: before / total, to: after / total };
    parts.push({ body: { ...body, input: input.slice(at, at + max) }, share });
    before = after;
  }
  return parts;
}

/**
 * The parts' answers as the one answer to the whole request: the vectors in input order, each
 * `index` its input's in the whole request, the token counts summed. `sizes` are the parts'
 * input counts.
 */
export function joinEmbeddings(answers: readonly EmbeddingsList[], sizes: readonly number[]): EmbeddingsList {
  const data: EmbeddingsList['data'] = [];
  const usage = { prompt_tokens: 0, total_tokens: 0 };
  let offset = 0;
  for (const [i, answer] of answers.entries()) {
    for (const item of answer.data) data.push({ ...item, index: offset + item.index });
    offset += sizes[i]!;
    usage.prompt_tokens += answer.usage.prompt_tokens;
    usage.total_tokens += answer.usage.total_tokens;
  }
  return { object: 'list', data, model: answers[0]!.model, usage };
}

/** A part's token counts added to those of the parts before it. */
export function addUsage(before: Usage | undefined, part: Usage): Usage {
  if (!before) return part;
  return {
    ...before,
    inputTokens: before.inputTokens + part.inputTokens,
    outputTokens: before.outputTokens + part.outputTokens,
  };
}
