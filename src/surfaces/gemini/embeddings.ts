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

export function embedJob(model: string, request: EmbedContentRequest): GeminiEmbeddingJob {
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
  const [first, ...rest] = batch.requests;
  for (const [i, request] of rest.entries()) {
    for (const field of ['taskType', 'title', 'outputDimensionality'] as const) {
      if (request[field] !== first![field])
        throw badRequest(
          `Every request of a batch must have the same ${field}; split the batch by ${field}`,
          {
            param: `requests[${i + 1}].${field}`,
            code: 'invalid_value',
          },
        );
    }
    if (request.model !== undefined && request.model !== `models/${model}` && request.model !== model)
      throw badRequest(`requests[${i + 1}].model differs from the model in the path`, {
        param: `requests[${i + 1}].model`,
        code: 'invalid_value',
      });
  }
  const single = embedJob(model, first!);
  return { ...single, body: { ...single.body, input: batch.requests.map(textOf) }, batch: true };
}

/** OpenAI's embeddings list as Gemini's answer: `embedding` for one request, `embeddings` for a batch. */
export function geminiEmbeddings(answer: unknown, batch: boolean): Record<string, unknown> {
  const data = isRecord(answer) && Array.isArray(answer.data) ? answer.data : [];
  const vectors = data.map((item) => ({ values: isRecord(item) ? item.embedding : [] }));
  return batch ? { embeddings: vectors } : { embedding: vectors[0] };
}
