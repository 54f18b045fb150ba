import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { withoutRouteSchemas } from '../../src/http/route-schemas.js';

describe('Fastify without route schema compilers (src/http/route-schemas.ts)', () => {
  it('serves a route without a schema', async () => {
    const app = Fastify({ schemaController: withoutRouteSchemas });
    app.post('/echo', async (request) => request.body);
    const res = await app.inject({ method: 'POST', url: '/echo', payload: { a: 1 } });
    expect(res.json()).toEqual({ a: 1 });
  });

  it('refuses to start with a route that declares one, naming zod', async () => {
    const app = Fastify({ schemaController: withoutRouteSchemas });
    app.post('/typed', { schema: { body: { type: 'object' } } }, async () => 'ok');
    await expect(app.ready()).rejects.toThrow(/validate the body with zod/);
  });
});
