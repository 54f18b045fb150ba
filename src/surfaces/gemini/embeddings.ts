import { badRequest } from '../../errors/gateway-error.js';
import { isRecord } from '../../providers/index.js';
import type { BatchEmbedContentsRequest, EmbedContentRequest } from './schema.js';

/**
 * Gemini's `embedContent` and `batchEmbedContents` as the gateway's one embeddings operation,
 * whose body is OpenAI's (`{model, input, dimensions}`): a content's text is its parts' texts
 * joined, as Gemini embeds them. `taskType` and `title` ride along for a Gemini provider, which
 * takes them; providers of other formats have no counterpart and embed the text alone.
 */
export interface GeminiEmbeddingJob {
  body: { model: string; input: string | string[]; dimensions?: number };
  taskType?: string;
  title?: string;
  /** One request (`embedContent`) or a batch: the answer's shape follows. */
  batch: boolean;
}

const textOf = (request: EmbedContentRequest): string =>
  request.content.parts.map((part) => part.text).join('');

/**
 * A request naming a model in its body names the path's (`models/…` or bare): the path's is the
 * one routed, limited and charged, so another would be answered by a model the client did not name.
 */
function samePathModel(model: string, named: string | undefined, param: string): void {
  if (named !== undefined && named !== `models/${model}` && named !== model)
    throw badRequest(`${param} differs from the model in the path`, { param, code: 'invalid_value' });
}

export function embedJob(model: string, request: EmbedContentRequest): GeminiEmbeddingJob {
  samePathModel(model, request.model, 'model');
  return jobFor(model, request);
}

function jobFor(model: string, request: EmbedContentRequest): GeminiEmbeddingJob {
  return {
    body: {
      model,
      input: textOf(request),
      ...(request.outputDimensionality !== undefined && { dimensions: request.outputDimensionality }),
    },
    ...(request.taskType !== undefined && { taskType: request.taskType }),
    ...(request.title !== undefined && { title: request.title }),
    batch: false,
  };
}

/** A batch becomes one call, so its requests must agree on everything but the text. */
export function batchEmbedJob(model: string, batch: BatchEmbedContentsRequest): GeminiEmbeddingJob {
  const first = batch.requests[0]!;
  for (const [i, request] of batch.requests.entries()) {
    samePathModel(model, request.model, `requests[${i}].model`);
    for (const field of ['taskType', 'title', 'outputDimensionality'] as const) {
      if (request[field] !== first[field])
        throw badRequest(
          `Every request of a batch must have the same ${field}; split the batch by ${field}`,
          {
            param: `requests[${i}].${field}`,
            code: 'invalid_value',
          },
        );
    }
  }
  const single = jobFor(model, first);
  return { ...single, body: { ...single.body, input: batch.requests.map(textOf) }, batch: true };
}

/**
 * OpenAI's embeddings list as Gemini's answer: `embedding` for one request, `embeddings` for a
 * batch, each input's vector by its `index` (OpenAI's order is the index's, not the list's).
 * Throws on an answer without one numeric vector an input: the provider's fault, a 502 as any
 * answer it returns malformed, never a list that pairs the client's texts with the wrong vectors.
 */
export function geminiEmbeddings(answer: unknown, job: GeminiEmbeddingJob): Record<string, unknown> {
  const inputs = typeof job.body.input === 'string' ? 1 : job.body.input.length;
  const data = isRecord(answer) && Array.isArray(answer.data) ? answer.data : [];
  const vectors: Array<{ values: number[] }> = [];
  for (const item of data) {
    const index = isRecord(item) ? item.index : undefined;
    const values = isRecord(item) ? item.embedding : undefined;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= inputs)
      throw new Error('an embedding without the index of an input');
    if (!Array.isArray(values) || !values.every((n) => typeof n === 'number'))
      throw new Error('an embedding without numeric values');
    if (vectors[index]) throw new Error('two embeddings for one input');
    vectors[index] = { values };
  }
  if (data.length !== inputs) throw new Error('not one embedding per input');
  return job.batch ? { embeddings: vectors } : { embedding: vectors[0] };
}
