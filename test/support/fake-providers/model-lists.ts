/**
 * The model lists of the four formats, as the services answer them: OpenAI's `GET /v1/models`
 * (`{object: 'list', data: [{id, object, created, owned_by}]}`), Anthropic's `GET /v1/models`
 * (a page of ModelInfo: `{data, has_more, first_id, last_id}`), Gemini's `GET /v1beta/models`
 * (`{models: [{name: 'models/…', supportedGenerationMethods, …}], nextPageToken?}`) and Ollama's
 * `GET /api/tags` (`{models: [{name, model, modified_at, size, digest, details}]}`).
 */

import type { ServerResponse } from 'node:http';
import { type Json, sendJson } from './http.js';

/** What a fake lists unless the test gives its own names. */
export const DEFAULT_MODELS = {
  openai: ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small'],
  anthropic: ['claude-sonnet-4-5', 'claude-haiku-4-5'],
  gemini: ['gemini-2.5-flash', 'gemini-2.5-pro', 'text-embedding-004'],
  ollama: ['llama3.2:latest', 'nomic-embed-text:latest'],
} as const;

const CREATED = 1_721_172_741;

export function openAIModelList(res: ServerResponse, models: readonly string[]): void {
  sendJson(res, 200, {
    object: 'list',
    data: models.map((id) => ({ id, object: 'model', created: CREATED, owned_by: 'system' })),
  });
}

/** A retired model stays in Anthropic's catalogue, marked so; the gateway must not offer it. */
export function anthropicModelList(res: ServerResponse, models: readonly string[], url: URL): void {
  const limit = Math.min(1000, Math.max(1, Number(url.searchParams.get('limit') ?? 20)));
  const all: Json[] = [...models, 'claude-2.0'].map((id) => ({
    type: 'model',
    id,
    display_name: id.replace(/-/g, ' '),
    created_at: '2025-09-29T00:00:00Z',
    capabilities: null,
    deprecated_at: id === 'claude-2.0' ? '2024-10-01T00:00:00Z' : null,
    retires_at: null,
    lifecycle: id === 'claude-2.0' ? 'retired' : 'active',
    line: null,
    max_input_tokens: 200_000,
    max_tokens: 64_000,
  }));
  const data = all.slice(0, limit);
  sendJson(res, 200, {
    data,
    has_more: all.length > data.length,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
  });
}

/** Gemini also lists models that only answer questions over documents (AQA): they neither chat nor embed. */
export function geminiModelList(res: ServerResponse, models: readonly string[]): void {
  const entry = (id: string, methods: string[]): Json => ({
    name: `models/${id}`,
    version: '001',
    displayName: id,
    description: `The fake ${id}.`,
    inputTokenLimit: 1_048_576,
    outputTokenLimit: 65_536,
    supportedGenerationMethods: methods,
  });
  sendJson(res, 200, {
    models: [
      ...models.map((id) =>
        entry(id, id.includes('embedding') ? ['embedContent'] : ['generateContent', 'countTokens']),
      ),
      entry('aqa', ['generateAnswer']),
    ],
  });
}

export function ollamaTags(res: ServerResponse, models: readonly string[]): void {
  sendJson(res, 200, {
    models: models.map((name) => ({
      name,
      model: name,
      modified_at: '2025-10-01T12:00:00.000000000Z',
      size: 2_019_393_189,
      digest: 'a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72',
      details: {
        parent_model: '',
        format: 'gguf',
        family: 'llama',
        families: ['llama'],
        parameter_size: '3.2B',
        quantization_level: 'Q4_K_M',
      },
    })),
  });
}
