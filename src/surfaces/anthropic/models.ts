import type { IncomingHttpHeaders } from 'node:http';
import { badRequest } from '../../errors/gateway-error.js';
import type { ListedModel } from '../openai/models.js';

/** A model as Anthropic's `models.retrieve` and `models.list` describe one. */
export interface AnthropicModel {
  type: 'model';
  id: string;
  display_name: string;
  created_at: string;
}

export interface AnthropicModelPage {
  data: AnthropicModel[];
  has_more: boolean;
  first_id: string | null;
  last_id: string | null;
}

/**
 * An Anthropic client's request on `GET /v1/models`, which OpenAI's API has too: Anthropic's SDKs
 * send `anthropic-version` with every request, OpenAI's never do.
 */
export const fromAnthropicClient = (headers: IncomingHttpHeaders): boolean =>
  headers['anthropic-version'] !== undefined;

export const anthropicModel = ({ id, created }: Pick<ListedModel, 'id' | 'created'>): AnthropicModel => ({
  type: 'model',
  id,
  display_name: id,
  created_at: new Date(created * 1000).toISOString(),
});

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 1000;

/**
 * One page of `models`, as Anthropic's list pages: `limit` (1–1,000, 20 by default) models after
 * `after_id`, or the last `limit` before `before_id`.
 */
export function anthropicModelPage(
  models: readonly ListedModel[],
  query: Readonly<Record<string, unknown>>,
): AnthropicModelPage {
  const limit = query.limit === undefined ? DEFAULT_LIMIT : Number(query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw badRequest(`limit must be a whole number from 1 to ${MAX_LIMIT}`, { param: 'limit' });
  }
  const { after_id: after, before_id: before } = query;
  const position = (id: unknown, param: string) => {
    if (typeof id !== 'string') throw badRequest(`${param} must be a model id`, { param });
    const at = models.findIndex((model) => model.id === id);
    if (at < 0) throw badRequest(`${param} names no model this credential may list`, { param });
    return at;
  };
  const from = after === undefined ? 0 : position(after, 'after_id') + 1;
  const to = before === undefined ? models.length : position(before, 'before_id');
  // Paging back from `before_id` alone takes the models nearest it.
  const backwards = before !== undefined && after === undefined;
  const start = backwards ? Math.max(from, to - limit) : from;
  const end = backwards ? to : Math.min(to, from + limit);
  const data = models.slice(start, end).map(anthropicModel);
  const hasMore = backwards ? start > from : end < to;
  return { data, has_more: hasMore, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}
