import { createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SQLITE_MIGRATIONS } from '../../src/store/migrations.js';
import { migratePostgres, POSTGRES_MIGRATIONS } from '../../src/store/pg-migrations.js';
import { createDatabase, hasPostgres, type PostgresServer, startPostgres } from '../support/postgres.js';
import {
  freshDataDir,
  type RunningGateway,
  runCli,
  startGatewayProcess,
  writeTempConfig,
} from '../support/process.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * A newer Keyward started beside an older one on the same store, and refused for a reason the
 * schema has no part in (another live instance with limits kept per instance, a port taken), left
 * the store migrated: the older one then refused it at its next restart ("newer than this
 * Keyward"), and going back needed a backup.
 */

const OLDER = SQLITE_MIGRATIONS.length - 1;
const PG_OLDER = POSTGRES_MIGRATIONS.length - 1;

const servers: Server[] = [];
const running: RunningGateway[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) server.close();
  for (const gw of running.splice(0)) {
    gw.child.kill('SIGKILL');
    await gw.exited;
  }
});

/** A loopback port another program already holds. */
async function heldPort(): Promise<number> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** A data directory whose SQLite store an older Keyward made: one schema version behind. */
function olderSqliteStore(): { dataDir: string; database: string } {
  const dataDir = freshDataDir();
  const database = join(dataDir, 'keyward.db');
  const db = new Database(database);
  db.pragma('journal_mode = WAL');
  SQLITE_MIGRATIONS.slice(0, OLDER).forEach((sql, i) => {
    db.exec(sql);
    db.pragma(`user_version = ${i + 1}`);
  });
  db.close();
  return { dataDir, database };
}

/** An older instance recorded as live: this test's process, on this host, limits in memory. */
function recordLiveInstance(database: string): void {
  const db = new Database(database);
  const now = Date.now();
  db.prepare(
    'INSERT INTO instances (id, host, pid, limits, started_at, seen_at) VALUES (?, ?, ?, ?, ?, ?)',
  ).run('older-instance', hostname(), process.pid, 'memory', now, now);
  db.close();
}

function sqliteVersion(database: string): number {
  const db = new Database(database, { readonly: true });
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } finally {
    db.close();
  }
}

const env = (dataDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  KEYWARD_DATA_DIR: dataDir,
  KEYWARD_API_KEY: CLIENT_KEY,
  KEYWARD_PORT: '0',
  KEYWARD_ADMIN_PORT: '0',
  ...extra,
});

describe('a refused start leaves a SQLite store unmigrated', { timeout: 60_000 }, () => {
  it('beside a live older instance, limits in memory: refused, and the schema is as found', async () => {
    const { dataDir, database } = olderSqliteStore();
    recordLiveInstance(database);
    const run = await runCli(['start'], { env: env(dataDir) });
    expect(run.stderr).toContain('another Keyward instance is using this store');
    expect(run.code).toBe(2);
    expect(sqliteVersion(database)).toBe(OLDER);
  });

  it('with --workers beside a live older instance: refused by the primary, the schema as found', async () => {
    const { dataDir, database } = olderSqliteStore();
    recordLiveInstance(database);
    const run = await runCli(['start', '--workers', '2'], { env: env(dataDir) });
    expect(run.stderr).toContain('another Keyward instance is using this store');
    expect(run.code).toBe(2);
    expect(sqliteVersion(database)).toBe(OLDER);
  });

  it('on a port in use (either listener): refused, and the schema is as found', async () => {
    const { dataDir, database } = olderSqliteStore();
    const port = await heldPort();
    const data = await runCli(['start'], { env: env(dataDir, { KEYWARD_PORT: String(port) }) });
    expect(data.stderr).toContain(
      `the data-plane listener cannot listen on 127.0.0.1:${port}: the port is already in use`,
    );
    expect(data.code).toBe(1);
    const admin = await runCli(['start'], { env: env(dataDir, { KEYWARD_ADMIN_PORT: String(port) }) });
    expect(admin.stderr).toContain(`the admin listener cannot listen on 127.0.0.1:${port}`);
    expect(admin.code).toBe(1);
    expect(sqliteVersion(database)).toBe(OLDER);
  });

  it('with both listeners given one free port: refused as the second listen would be, the schema as found', async () => {
    const { dataDir, database } = olderSqliteStore();
    const port = await heldPort();
    servers.pop()?.close();
    const run = await runCli(['start'], {
      env: env(dataDir, { KEYWARD_PORT: String(port), KEYWARD_ADMIN_PORT: String(port) }),
    });
    expect(run.stderr).toContain(
      `the admin listener cannot listen on 127.0.0.1:${port}: the port is already in use`,
    );
    expect(run.code).toBe(1);
    expect(sqliteVersion(database)).toBe(OLDER);
  });

  it('with --workers on a port in use: refused by the primary, the schema as found', async () => {
    const { dataDir, database } = olderSqliteStore();
    const port = await heldPort();
    const run = await runCli(['start', '--workers', '2'], {
      env: env(dataDir, { KEYWARD_PORT: String(port) }),
    });
    expect(run.stderr).toContain(`cannot listen on 127.0.0.1:${port}: the port is already in use`);
    expect(run.code).toBe(1);
    expect(sqliteVersion(database)).toBe(OLDER);
  });

  it('a start that goes ahead migrates, a stale instance row notwithstanding', async () => {
    const { dataDir, database } = olderSqliteStore();
    const db = new Database(database);
    db.prepare(
      'INSERT INTO instances (id, host, pid, limits, started_at, seen_at) VALUES (?, ?, ?, ?, ?, ?)',
    ).run('long-gone', hostname(), process.pid, 'memory', 1, 1);
    db.close();
    running.push(await startGatewayProcess(writeTempConfig({}), env(dataDir)));
    expect(sqliteVersion(database)).toBe(SQLITE_MIGRATIONS.length);
  });
});

describe.skipIf(!hasPostgres())(
  'a refused start leaves a Postgres store unmigrated',
  { timeout: 90_000 },
  () => {
    let server: PostgresServer | undefined;
    afterAll(async () => {
      await server?.stop();
    });

    /** A database an older Keyward made, one schema version behind, with a live instance of it. */
    async function olderPostgresStore(): Promise<string> {
      server ??= await startPostgres();
      const url = await createDatabase(server);
      const pool = new pg.Pool({ connectionString: url });
      try {
        await migratePostgres(pool, POSTGRES_MIGRATIONS.slice(0, PG_OLDER));
        await pool.query(
          `INSERT INTO instances (id, host, pid, limits, started_at, seen_at)
         VALUES ('older-instance', $1, $2, 'memory', 0, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)`,
          [hostname(), process.pid],
        );
      } finally {
        await pool.end();
      }
      return url;
    }

    async function pgVersion(url: string): Promise<number> {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query<{ version: number }>(
          'SELECT max(version) AS version FROM schema_migrations',
        );
        return rows[0]!.version;
      } finally {
        await client.end();
      }
    }

    it('beside a live older instance, limits in memory: refused, and the schema is as found', async () => {
      const url = await olderPostgresStore();
      const config = writeTempConfig({ storage: { postgres: { url } } });
      const run = await runCli(['start', '--config', config], { env: env(freshDataDir()) });
      expect(run.stderr).toContain('another Keyward instance is using this store');
      expect(run.code).toBe(2);
      expect(await pgVersion(url)).toBe(PG_OLDER);
    });

    it('on a port in use, limits accepted per instance: refused, and the schema is as found', async () => {
      const url = await olderPostgresStore();
      const port = await heldPort();
      const config = writeTempConfig({ storage: { postgres: { url } }, rateLimits: { perInstance: true } });
      const run = await runCli(['start', '--config', config], {
        env: env(freshDataDir(), { KEYWARD_PORT: String(port) }),
      });
      expect(run.stderr).toContain(`cannot listen on 127.0.0.1:${port}: the port is already in use`);
      expect(run.code).toBe(1);
      expect(await pgVersion(url)).toBe(PG_OLDER);
    });
  },
);
