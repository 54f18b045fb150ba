import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { migratePostgres, POSTGRES_MIGRATIONS } from '../../src/store/pg-migrations.js';
import { CLOSED_PORT } from '../support/closed-port.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { REGION, startFakeSecretsManager } from '../support/fake-secrets-manager.js';
import { hasPostgres } from '../support/postgres.js';
import { freshDataDir, runCli } from '../support/process.js';
import { usePostgres } from '../support/use-postgres.js';

const KEY = 'sk-doctor-provider-key-0123456789abcdef';

type Fake = Awaited<ReturnType<typeof startFakeOpenAI>>;
let fake: Fake | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

interface Report {
  ok: boolean;
  checks: Array<{ name: string; status: 'ok' | 'warn' | 'fail'; detail: string; fix?: string }>;
}

function configIn(dataDir: string, config: Record<string, unknown>): string {
  const file = join(dataDir, 'keyward.json');
  writeFileSync(file, JSON.stringify({ server: { port: 0 }, admin: { port: 0 }, ...config }));
  return file;
}

describe('keyward doctor', () => {
  it('finds a set-up gateway ready, says so to a person and a script, and shows no secret', async () => {
    fake = await startFakeOpenAI({ keys: [KEY] });
    const dataDir = freshDataDir();
    const file = configIn(dataDir, {
      providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { store: true } }],
    });
    const env = { KEYWARD_DATA_DIR: dataDir };
    const init = await runCli(['init', '--config', file, '--json'], { env });
    const { adminKey } = JSON.parse(init.stdout) as { adminKey: string };
    expect(
      (await runCli(['keys', 'add', '--provider', 'fake', '--config', file], { env, stdin: KEY })).code,
    ).toBe(0);

    const human = await runCli(['doctor', '--config', file], { env });
    expect(human.code, human.stdout + human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^✓ provider fake keys +1 from /m);
    expect(human.stdout).toMatch(
      /^✓ provider fake reachable +http:\/\/127\.0\.0\.1:\d+ accepts connections$/m,
    );
    expect(human.stdout).toMatch(/ready to start\n$/);

    const script = await runCli(['doctor', '--config', file, '--json'], { env });
    expect(script.code).toBe(0);
    const report = JSON.parse(script.stdout) as Report;
    expect(report.ok).toBe(true);
    expect(report.checks.map((check) => [check.name, check.status])).toEqual([
      ['configuration', 'ok'],
      ['data directory', 'ok'],
      ['master key', 'ok'],
      ['store', 'ok'],
      ['admin key', 'ok'],
      ['provider fake keys', 'ok'],
      ['provider fake reachable', 'ok'],
      ['data listener', 'ok'],
      ['admin listener', 'ok'],
    ]);
    // Connections opened and closed: the provider was sent no request.
    expect(fake.requests).toHaveLength(0);
    const masterKey = readFileSync(join(dataDir, 'master.key'), 'utf8').trim();
    for (const out of [human.stdout, human.stderr, script.stdout, script.stderr]) {
      expect(out).not.toContain(masterKey);
      expect(out).not.toContain(KEY);
      expect(out).not.toContain(KEY.slice(-12));
      expect(out).not.toContain(adminKey);
    }
  });

  it('names each problem and its fix, and exits 1', async () => {
    const dataDir = freshDataDir();
    const file = configIn(dataDir, {
      server: { port: 18_931 },
      providers: [
        {
          id: 'gone',
          type: 'openai',
          baseUrl: `http://127.0.0.1:${CLOSED_PORT}/v1`,
          keys: { env: 'DOCTOR_UNSET_KEY' },
        },
        { id: 'self', type: 'anthropic', baseUrl: 'http://127.0.0.1:18931/v1', keys: { store: true } },
      ],
    });
    const env = { KEYWARD_DATA_DIR: dataDir };
    expect((await runCli(['init', '--config', file], { env })).code).toBe(0);
    rmSync(join(dataDir, 'master.key'));

    const human = await runCli(['doctor', '--config', file], { env });
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/^✗ master key .* does not exist\n +→ run keyward init/m);
    expect(human.stdout).toMatch(/problem\(s\) to fix before starting\n$/);

    const report = JSON.parse(
      (await runCli(['doctor', '--config', file, '--json'], { env })).stdout,
    ) as Report;
    expect(report.ok).toBe(false);
    const status = Object.fromEntries(report.checks.map((check) => [check.name, check]));
    expect(status['master key']).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining('keyward init'),
    });
    expect(status['provider gone reachable']).toMatchObject({ status: 'fail' });
    expect(status['provider self reachable']).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining("this gateway's own data listener"),
    });
  });

  it('reports a key source that yields nothing once the store opens', async () => {
    const dataDir = freshDataDir();
    const file = configIn(dataDir, {
      providers: [
        {
          id: 'gone',
          type: 'openai',
          baseUrl: `http://127.0.0.1:${CLOSED_PORT}/v1`,
          keys: { env: 'DOCTOR_UNSET_KEY' },
        },
      ],
    });
    const env = { KEYWARD_DATA_DIR: dataDir };
    expect((await runCli(['init', '--config', file], { env })).code).toBe(0);
    const run = await runCli(['doctor', '--config', file, '--json'], { env });
    expect(run.code).toBe(1);
    const keys = (JSON.parse(run.stdout) as Report).checks.find(
      (check) => check.name === 'provider gone keys',
    );
    expect(keys).toMatchObject({ status: 'fail', detail: expect.stringContaining('DOCTOR_UNSET_KEY') });
  });

  it('reports a secret manager that never answers, and exits', async () => {
    const sm = await startFakeSecretsManager({ accessKeyId: 'AKIAKEYWARDTEST00001' });
    try {
      sm.hang(true);
      const dataDir = freshDataDir();
      const file = configIn(dataDir, {
        providers: [
          {
            id: 'aws',
            type: 'openai',
            baseUrl: `http://127.0.0.1:${CLOSED_PORT}/v1`,
            keys: { aws: { region: REGION, secretId: 'prod/openai', endpoint: sm.url } },
          },
        ],
      });
      const env = {
        KEYWARD_DATA_DIR: dataDir,
        AWS_ACCESS_KEY_ID: 'AKIAKEYWARDTEST00001',
        AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYkeywardTEST',
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_CONFIG_FILE: '/nonexistent/aws-config',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
      };
      expect((await runCli(['init', '--config', file], { env })).code).toBe(0);
      const started = Date.now();
      const run = await runCli(['doctor', '--config', file, '--json'], { env });
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(run.code).toBe(1);
      const keys = (JSON.parse(run.stdout) as Report).checks.find(
        (check) => check.name === 'provider aws keys',
      );
      expect(keys).toMatchObject({
        status: 'fail',
        detail: expect.stringContaining('did not answer within 2 s'),
        // A source that failed to load needs its credential, access or address fixed, not a key.
        fix: 'fix what the detail names, or change providers[aws].keys',
      });
    } finally {
      await sm.close();
    }
  }, 30_000);

  it('reports an invalid configuration as its one failed check', async () => {
    const dataDir = freshDataDir();
    const file = configIn(dataDir, { server: { hots: 'x' } });
    const run = await runCli(['doctor', '--config', file, '--json'], { env: { KEYWARD_DATA_DIR: dataDir } });
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.checks).toEqual([
      expect.objectContaining({
        name: 'configuration',
        status: 'fail',
        detail: expect.stringContaining('hots'),
      }),
    ]);
  });

  it('reports a SQLite store behind this Keyward and leaves it as it is', async () => {
    const dataDir = freshDataDir();
    const file = configIn(dataDir, { providers: [] });
    const env = { KEYWARD_DATA_DIR: dataDir };
    expect((await runCli(['init', '--config', file], { env })).code).toBe(0);
    const database = join(dataDir, 'keyward.db');
    const older = new Database(database);
    const latest = older.pragma('user_version', { simple: true }) as number;
    older.pragma(`user_version = ${latest - 1}`);
    older.close();
    const run = await runCli(['doctor', '--config', file, '--json'], { env });
    expect(run.code).toBe(0);
    const store = (JSON.parse(run.stdout) as Report).checks.find((check) => check.name === 'store');
    expect(store).toMatchObject({ status: 'warn', fix: expect.stringContaining('keyward migrate') });
    const after = new Database(database, { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(latest - 1);
    after.close();
  });

  it('fails a SQLite store missing tables its schema has, naming them, where it said "ready to start"', async () => {
    const dataDir = freshDataDir();
    const file = configIn(dataDir, { providers: [] });
    const env = { KEYWARD_DATA_DIR: dataDir };
    expect((await runCli(['init', '--config', file], { env })).code).toBe(0);
    const db = new Database(join(dataDir, 'keyward.db'));
    db.exec('DROP TABLE usage');
    db.close();
    const run = await runCli(['doctor', '--config', file, '--json'], { env });
    expect(run.code).toBe(1);
    const store = (JSON.parse(run.stdout) as Report).checks.find((check) => check.name === 'store');
    expect(store).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/damaged: .*table\(s\) usage are missing/),
      fix: 'restore the store from a backup',
    });
  });

  it('reports a passphrase given for a store sealed with a key, and makes it no salt', async () => {
    const dataDir = freshDataDir();
    const file = configIn(dataDir, { providers: [] });
    expect((await runCli(['init', '--config', file], { env: { KEYWARD_DATA_DIR: dataDir } })).code).toBe(0);
    const env = { KEYWARD_DATA_DIR: dataDir, KEYWARD_MASTER_PASSPHRASE: 'correct horse battery staple' };
    const run = await runCli(['doctor', '--config', file, '--json'], { env });
    expect(run.code, run.stderr).toBe(1);
    const check = (JSON.parse(run.stdout) as Report).checks.find(
      (c) => c.name === 'master key' && c.status === 'fail',
    );
    expect(check).toMatchObject({ status: 'fail', detail: expect.stringContaining('no passphrase salt') });
    expect(check?.detail).not.toContain('keyward init');
    const db = new Database(join(dataDir, 'keyward.db'), { readonly: true });
    expect(db.prepare("SELECT name FROM meta WHERE name = 'master_salt'").all()).toEqual([]);
    db.close();
  });

  it('has its help', async () => {
    const help = await runCli(['doctor', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: keyward doctor/);
  });
});

describe.skipIf(!hasPostgres())('keyward doctor on Postgres (needs the Debian package postgresql)', () => {
  const postgres = usePostgres();

  /** The tables of the database at `url`, by name. */
  async function tablesOf(url: string): Promise<string[]> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ name: string }>(
        "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
      );
      return rows.map((row) => row.name);
    } finally {
      await client.end();
    }
  }

  /** A SQLite store made by keyward init, and doctor run against the Postgres database at `url`. */
  async function setUp(url: string) {
    const dataDir = freshDataDir();
    const env = { KEYWARD_DATA_DIR: dataDir };
    const sqlite = configIn(dataDir, { providers: [] });
    expect((await runCli(['init', '--config', sqlite], { env })).code).toBe(0);
    const onPostgres = join(dataDir, 'postgres.json');
    writeFileSync(
      onPostgres,
      JSON.stringify({
        server: { port: 0 },
        admin: { port: 0 },
        storage: { postgres: { url } },
        providers: [],
      }),
    );
    const doctor = async () => {
      const run = await runCli(['doctor', '--config', onPostgres, '--json'], { env });
      const report = JSON.parse(run.stdout) as Report;
      return { code: run.code, store: report.checks.find((check) => check.name === 'store') };
    };
    return { env, sqlite, doctor };
  }

  it('reports an empty database as holding no store yet and leaves it empty, for keyward store copy to fill', async () => {
    const url = await postgres.database();
    const { env, sqlite, doctor } = await setUp(url);
    const before = await doctor();
    expect(before.code).toBe(0);
    expect(before.store).toMatchObject({ status: 'ok', detail: expect.stringContaining('no store yet') });
    expect(await tablesOf(url)).toEqual([]);

    const copied = await runCli(['store', 'copy', '--to', url, '--config', sqlite], { env });
    expect(copied.stderr).toBe('');
    expect(copied.code).toBe(0);
    const after = await doctor();
    expect(after.store).toMatchObject({
      status: 'ok',
      detail: expect.stringContaining('schema current, opened with the master key'),
    });
  });

  it('reports a schema without a store, a schema behind and a stray table, and writes none of them', async () => {
    const migrated = await postgres.database();
    const pool = new pg.Pool({ connectionString: migrated, max: 1 });
    try {
      // keyward migrate alone: the schema, and no sealed audit key in it.
      await migratePostgres(pool);
      const bare = await (await setUp(migrated)).doctor();
      expect(bare.store).toMatchObject({ status: 'ok', detail: expect.stringContaining('no store yet') });
      expect((await pool.query('SELECT name FROM meta')).rows).toEqual([]);
    } finally {
      await pool.end();
    }

    const behind = await postgres.database();
    const older = new pg.Pool({ connectionString: behind, max: 1 });
    try {
      await migratePostgres(older, POSTGRES_MIGRATIONS.slice(0, -1));
      const run = await (await setUp(behind)).doctor();
      expect(run.code).toBe(0);
      expect(run.store).toMatchObject({ status: 'warn', fix: expect.stringContaining('keyward migrate') });
      const { rows } = await older.query('SELECT max(version) AS version FROM schema_migrations');
      expect(rows[0].version).toBe(POSTGRES_MIGRATIONS.length - 1);
    } finally {
      await older.end();
    }

    const stray = await postgres.database();
    const other = new pg.Client({ connectionString: stray });
    await other.connect();
    await other.query('CREATE TABLE meta (x INTEGER)');
    await other.end();
    const run = await (await setUp(stray)).doctor();
    expect(run.code).toBe(1);
    expect(run.store).toMatchObject({ status: 'fail', detail: expect.stringContaining('meta') });
    expect(await tablesOf(stray)).toEqual(['meta']);
  });

  it('fails a store missing tables its recorded version has, and so do keyward migrate and keyward start', async () => {
    const url = await postgres.database();
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    try {
      await migratePostgres(pool);
      await pool.query('DROP TABLE usage; DROP TABLE conversation_items');
    } finally {
      await pool.end();
    }
    const { env, doctor } = await setUp(url);
    const run = await doctor();
    expect(run.code).toBe(1);
    expect(run.store).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('table(s) usage, conversation_items are missing'),
      fix: 'restore the store from a backup',
    });
    const config = configIn(freshDataDir(), { storage: { postgres: { url } }, providers: [] });
    // Each said all was well: "nothing to do", then served while every usage flush failed.
    for (const command of ['migrate', 'start']) {
      const refused = await runCli([command, '--config', config], { env });
      expect(refused.code, command).not.toBe(0);
      expect(refused.stderr).toContain('table(s) usage, conversation_items are missing');
      expect(refused.stderr).toContain('restore the store from a backup');
    }
  });
});
