import type { FastifyInstance } from 'fastify';
import { type JsonLimits, parseJsonBody } from './json-body.js';

/**
 * JSON is the only body either listener reads. An empty body under `Content-Type: application/json`
 * is no body at all, as clients send it on a DELETE or a body-less POST (`fetch` with a JSON
 * default header): routes that need one refuse `undefined` themselves. Fastify's built-in
 * `text/plain` parser goes, so that a JSON string sent as text (what `fetch` does for a string
 * body) gets a 415 naming the content type to use instead of a misleading schema error.
 */
export function acceptJsonBodies(app: FastifyInstance, limits: JsonLimits): void {
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (text.length === 0 || text.trim().length === 0) {
      done(null, undefined);
      return;
    }
    try {
      done(null, parseJsonBody(text, limits));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}
