import { afterAll, beforeAll } from 'vitest';
import {
  createDatabase,
  hasPostgres,
  POSTGRES_MISSING,
  type PostgresServer,
  startPostgres,
} from './postgres.js';

export interface PostgresInUse {
  /** The running cluster; there is none before the block's first hook runs. */
  readonly server: PostgresServer;
  /** A fresh empty database on it; its url. */
  database(): Promise<string>;
}

/**
 * A private Postgres cluster (postgres.js) for the tests of the enclosing block, or of the whole file
 * when called at its top. Called before the block's own hooks, it starts before them and stops after
 * them ("after" hooks run in reverse), so that what they close still reaches it. Where Postgres is not
 * installed it says so and starts nothing: the blocks that need it skip with `hasPostgres()`.
 */
export function usePostgres(): PostgresInUse {
  if (!hasPostgres()) console.warn(POSTGRES_MISSING);
  let server: PostgresServer | undefined;
  // initdb on a busy machine takes longer than the usual hook's 30 s now and then.
  beforeAll(async () => {
    if (hasPostgres()) server = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  }, 60_000);
  const running = (): PostgresServer => {
    if (!server) throw new Error('no Postgres cluster: usePostgres starts it in beforeAll');
    return server;
  };
  return {
    get server() {
      return running();
    },
    database: () => createDatabase(running()),
  };
}
