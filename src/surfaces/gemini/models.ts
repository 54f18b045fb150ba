import type { IncomingHttpHeaders } from 'node:http';
import type { Principal } from '../../auth/index.js';
import type { CatalogProvider, ModelCatalog } from '../../catalog/model-catalog.js';
import type { Router } from '../../routing/index.js';
import { type ListedModel, visibleModels } from '../openai/models.js';

/** The methods the Gemini surface serves on a model (`/models/{model}:{method}`). */
export const GEMINI_METHODS = [
  'generateContent',
  'streamGenerateContent',
  'countTokens',
  'embedContent',
  'batchEmbedContents',
] as const;
export type GeminiMethod = (typeof GEMINI_METHODS)[number];

export interface GeminiModel {
  name: string;
  baseModelId: string;
  displayName: string;
  description: string;
  supportedGenerationMethods: GeminiMethod[];
}

/** A model as Gemini's `models.get` and `models.list` describe one (`models/{id}`). */
export function geminiModel({ id, owned_by }: Pick<ListedModel, 'id' | 'owned_by'>): GeminiModel {
  return {
    name: `models/${id}`,
    baseModelId: id,
    displayName: id,
    description: `${id} through Keyward (provider ${owned_by})`,
    supportedGenerationMethods: [...GEMINI_METHODS],
  };
}

/** The models this principal may use, as Gemini's `models.list` names them. */
export async function geminiModels(
  principal: Principal | undefined,
  router: Router<CatalogProvider>,
  catalog: ModelCatalog,
): Promise<GeminiModel[]> {
  return (await visibleModels(principal, router, catalog, 0)).map(geminiModel);
}

/**
 * A Gemini client's request on a path both APIs share (`GET /v1/models` and `/v1/models/{model}`,
 * which `@google/genai` asks with `apiVersion: 'v1'`): it carries its key in `x-goog-api-key`,
 * never as a Bearer token.
 */
export function fromGeminiClient(headers: IncomingHttpHeaders): boolean {
  return headers['x-goog-api-key'] !== undefined && headers.authorization === undefined;
}
