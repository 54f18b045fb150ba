import type { FastifyServerOptions } from 'fastify';

const refuse = (): never => {
  throw new Error('Keyward routes declare no Fastify schemas: validate the body with zod in its surface');
};

/**
 * Keyward's routes declare no Fastify schemas: each surface validates its bodies with zod. Left to
 * itself, Fastify loads ajv and fast-json-stringify for every instance it creates (about 1 MB of
 * heap kept for nothing); with these, a route that did declare a schema fails at start instead.
 */
export const withoutRouteSchemas: FastifyServerOptions['schemaController'] = {
  compilersFactory: { buildValidator: () => refuse, buildSerializer: () => refuse },
};
