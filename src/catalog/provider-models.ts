import type { ProviderConfig } from '../config/index.js';
import type { SecretString } from '../keys/index.js';
import { API_VERSION } from '../providers/anthropic/index.js';
import { basePath } from '../providers/openai/index.js';

/** How to ask one provider for the models it offers, and how to read its answer. */
export interface ModelListCall {
  path: string;
  headers: Record<string, string>;
  read(payload: unknown): string[];
}

function field(payload: unknown, name: string): unknown[] {
  const value = (payload as Record<string, unknown> | null)?.[name];
  return Array.isArray(value) ? value : [];
}

const strings = (items: unknown[], pick: (item: Record<string, unknown>) => unknown): string[] =>
  items.flatMap((item) => {
    const value = item && typeof item === 'object' ? pick(item as Record<string, unknown>) : undefined;
    return typeof value === 'string' && value.length > 0 && value.length <= 256 ? [value] : [];
  });

/** OpenAI and its imitators: `GET /models` → `{data: [{id}]}`. */
const readOpenAI = (payload: unknown) => strings(field(payload, 'data'), (m) => m.id);

/** Anthropic keeps retired models in its catalogue, marked `lifecycle: 'retired'`: they answer no request. */
const readAnthropic = (payload: unknown) =>
  readOpenAI({
    data: field(payload, 'data').filter((m) => (m as { lifecycle?: unknown }).lifecycle !== 'retired'),
  });

/** Gemini names models `models/gemini-2.5-pro`; only those that chat or embed are of use here. */
function readGemini(payload: unknown): string[] {
  const usable = field(payload, 'models').filter((model) => {
    const methods = (model as { supportedGenerationMethods?: unknown }).supportedGenerationMethods;
    return !Array.isArray(methods) || methods.includes('generateContent') || methods.includes('embedContent');
  });
  return strings(usable, (m) => (typeof m.name === 'string' ? m.name.replace(/^models\//, '') : undefined));
}

/**
 * The provider's own model list, asked with the gateway's key as its API documents it: OpenAI's
 * and Anthropic's `GET /v1/models` (one page of up to 1000), Gemini's `GET /v1beta/models`,
 * Ollama's `GET /api/tags`. Azure OpenAI lists deployments only through its management API, so
 * it has no call; its configured deployments stand in.
 */
export function modelListCall(
  config: ProviderConfig,
  key: SecretString | undefined,
): ModelListCall | undefined {
  const prefix = basePath(config);
  // Uncompressed, as every upstream call asks (`baseHeaders`): the list is read as JSON as it comes.
  const headers: Record<string, string> = {
    accept: 'application/json',
    'accept-encoding': 'identity',
    ...config.headers,
  };
  switch (config.type) {
    case 'openai':
    case 'openai-compatible':
      return {
        path: `${prefix}/models`,
        headers: key ? { ...headers, authorization: `Bearer ${key.reveal()}` } : headers,
        read: readOpenAI,
      };
    case 'anthropic':
      return {
        path: `${prefix}/models?limit=1000`,
        headers: {
          ...headers,
          'anthropic-version': API_VERSION,
          ...(key && { 'x-api-key': key.reveal() }),
        },
        read: readAnthropic,
      };
    case 'gemini':
      return {
        path: `${prefix}/models?pageSize=1000`,
        headers: key ? { ...headers, 'x-goog-api-key': key.reveal() } : headers,
        read: readGemini,
      };
    case 'ollama':
      return { path: `${prefix}/api/tags`, headers, read: (p) => strings(field(p, 'models'), (m) => m.name) };
    case 'azure-openai':
      return undefined;
  }
}
