import { UnsupportedFeature } from '../../canonical/model.js';
import type { EmbeddingsList } from '../types.js';
import { isRecord } from '../wire-values.js';

/**
 * OpenAI's embeddings request ⇄ Gemini's `embedContent` (one input) and `batchEmbedContents`
 * (several), as googleapis/js-genai sends them to the Gemini Developer API.
 *
 * Gemini reports no token counts for embeddings, so usage is estimated the way count_tokens
 * estimates for providers without a counter (four characters per token): enough for budgets and
 * usage records, not for billing.
 */

/** The fields of a validated OpenAI embeddings body that matter here. */
export interface EmbeddingsBody {
  model: string;
  input: string | string[] | number[] | number[][];
  encoding_format?: 'float' | 'base64';
  dimensions?: number;
}

const ASCII_PER_TOKEN = 4;

/**
 * What one `batchEmbedContents` takes: Gemini answers more with a 400 ("at most 100 requests can
 * be in one batch"), so the forwarder sends a larger request in parts of this many.
 */
export const MAX_BATCH = 100;

/**
 * Gemini reports no tokens for embeddings, so they are estimated: four ASCII characters a token,
 * and a token for every other character (Chinese, Japanese and the like run about one a
 * character): counting those four to a token too under-charged such text three or four times.
 */
function textTokens(text: string): number {
  let ascii = 0;
  let other = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) ascii++;
    // A pair of UTF-16 surrogates is one character.
    else if (code < 0xdc00 || code > 0xdfff) other++;
  }
  return Math.ceil(ascii / ASCII_PER_TOKEN) + other;
}

/** The inputs as texts; token ids are OpenAI's tokenizer's, which Gemini cannot read. */
export function embeddingTexts(input: EmbeddingsBody['input']): string[] {
  if (typeof input === 'string') return [input];
  if (input.every((item): item is string => typeof item === 'string')) return input;
  throw new UnsupportedFeature(
    'Gemini embeds text only: send the input as a string or an array of strings, not token ids',
    'input',
  );
}

/**
 * The method (`embedContent` or `batchEmbedContents`) and its body for the model at `modelName`;
 * `hints` are the Gemini surface's `taskType` and `title`.
 */
export function encodeGeminiEmbeddings(
  body: EmbeddingsBody,
  modelName: string,
  hints: { taskType?: string; title?: string } = {},
): { method: 'embedContent' | 'batchEmbedContents'; body: Record<string, unknown> } {
  const texts = embeddingTexts(body.input);
  const extra = {
    ...(hints.taskType !== undefined && { taskType: hints.taskType }),
    ...(hints.title !== undefined && { title: hints.title }),
    ...(body.dimensions !== undefined && { outputDimensionality: body.dimensions }),
  };
  const request = (text: string) => ({ content: { parts: [{ text }] }, ...extra });
  if (typeof body.input === 'string') {
    return { method: 'embedContent', body: { model: modelName, ...request(texts[0]!) } };
  }
  return {
    method: 'batchEmbedContents',
    body: { requests: texts.map((text) => ({ model: modelName, ...request(text) })) },
  };
}

/** One vector, checked: the provider's JSON is never trusted. */
function vector(value: unknown): number[] {
  const values = isRecord(value) ? value.values : undefined;
  if (!Array.isArray(values) || !values.every((n) => typeof n === 'number' && Number.isFinite(n))) {
    throw new Error('an embedding without numeric values');
  }
  return values as number[];
}

/** The vector as OpenAI's base64 form: little-endian float32s, which the OpenAI SDK decodes. */
function base64(values: number[]): string {
  const buffer = Buffer.alloc(values.length * 4);
  for (const [i, value] of values.entries()) buffer.writeFloatLE(value, i * 4);
  return buffer.toString('base64');
}

/** Gemini's answer as OpenAI's `list` of embeddings, in input order. Throws on a malformed answer. */
export function decodeGeminiEmbeddings(payload: unknown, body: EmbeddingsBody): EmbeddingsList {
  if (!isRecord(payload)) throw new Error('not a JSON object');
  const raw = Array.isArray(payload.embeddings) ? payload.embeddings : [payload.embedding];
  const texts = embeddingTexts(body.input);
  if (raw.length !== texts.length) throw new Error('not one embedding per input');
  const tokens = texts.reduce((sum, text) => sum + textTokens(text), 0);
  return {
    object: 'list',
    data: raw.map((item, index) => {
      const values = vector(item);
      return {
        object: 'embedding',
        index,
        embedding: body.encoding_format === 'base64' ? base64(values) : values,
      };
    }),
    model: body.model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
}
