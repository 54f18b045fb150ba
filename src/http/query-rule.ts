import type { FastifyInstance, RouteShorthandOptions } from 'fastify';
import { badRequest } from '../errors/gateway-error.js';

/** A route's `config` saying that it reads and validates its query string. */
interface ReadsQuery {
  readsQuery?: true;
}

/** Options of a route that reads its query string (`refuseUnreadQueries`). */
export const READS_QUERY: RouteShorthandOptions = { config: { readsQuery: true } satisfies ReadsQuery };

/**
 * Answers 400 to a query string on a route that does not read one, among the routes `applies`
 * picks. An ignored parameter looks like a filter or an option that worked: `?user=bob` on a route
 * that acts on everyone, `?dryRun=true` on one that does not know it.
 */
export function refuseUnreadQueries(app: FastifyInstance, applies: (url: string) => boolean): void {
  app.addHook('preHandler', async (request) => {
    const { url = '', config } = request.routeOptions;
    if ((config as ReadsQuery).readsQuery || !applies(url)) return;
    const [name] = Object.keys(request.query as object);
    if (name === undefined) return;
    const body =
      request.method === 'POST' || request.method === 'PUT' ? ' (its fields go in the JSON body)' : '';
    throw badRequest(`Unrecognized query parameter '${name}': ${request.method} ${url} takes none${body}`, {
      param: name,
      code: 'unknown_field',
    });
  });
}
