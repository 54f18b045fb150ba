import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratePostgres, POSTGRES_MIGRATIONS } from '../../src/store/pg-migrations.js';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { hasPostgres } from '../support/postgres.js';
import {
  freshDataDir,
  type RunningGateway,
  runCli,
  startGatewayProcess,
  writeTempConfig,
} from '../support/process.js';
import { PROVIDER_KEY } from '../support/setup.js';
import { usePostgres } from '../support/use-postgres.js';

/**
 * The grants README gives the serving role: the schema is migrated by its owner (`keyward
 * migrate`), and the gateway runs as a role that may read and write rows and nothing more (no
 * sequence: the one identity column needs no grant of its own).
 */
const SERVING_GRANTS = [
  'CREATE ROLE keyward_app LOGIN',
  'REVOKE CREATE ON SCHEMA public FROM PUBLIC',
  'GRANT USAGE ON SCHEMA public TO keyward_app',
  'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO keyward_app',
];

describe.skipIf(!hasPostgres())(
  'a gateway on Postgres as a role with row rights only (needs the Debian package postgresql)',
  () => {
    const postgres = usePostgres();
    let fake: FakeProvider;
    let ownerUrl: string;
    let gateway: RunningGateway | undefined;
    const env = {
      KEYWARD_ADMIN_KEY: ADMIN_KEY,
      P_KEY: PROVIDER_KEY,
      KEYWARD_MASTER_KEY: randomBytes(32).toString('base64'),
    };

    const configFor = (url: string) =>
      writeTempConfig({
        server: { port: 0 },
        admin: { port: 0 },
        storage: { postgres: { url, poolSize: 2 } },
        audit: { requests: true, intervalMs: 50 },
        providers: [{ id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'P_KEY' } }],
        models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
      });
    const asOwner = async (statements: string[]) => {
      const client = new pg.Client({ connectionString: ownerUrl });
      await client.connect();
      try {
        for (const sql of statements) await client.query(sql);
      } finally {
        await client.end();
      }
    };

    beforeAll(async () => {
      fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
      ownerUrl = await postgres.database();
    });
    afterAll(async () => {
      if (gateway && gateway.child.exitCode === null) {
        gateway.child.kill('SIGKILL');
        await gateway.exited;
      }
      await fake?.close();
    });

    it('refuses a schema behind its own, saying to migrate with the owning role; serves it once migrated', async () => {
      // As the previous Keyward left it: every version but the newest, and the grants of then.
      const pool = new pg.Pool({ connectionString: ownerUrl, max: 1 });
      await migratePostgres(pool, POSTGRES_MIGRATIONS.slice(0, -1)).finally(() => pool.end());
      await asOwner(SERVING_GRANTS);
      const servingUrl = ownerUrl.replace('postgres@', 'keyward_app@');
      const refused = await startGatewayProcess(configFor(servingUrl), {
        ...env,
        KEYWARD_DATA_DIR: freshDataDir(),
      }).then(
        () => expect.unreachable('the gateway served a schema it could not migrate'),
        (error: Error) => error.message,
      );
      expect(refused).toContain(
        `the store is at schema version ${POSTGRES_MIGRATIONS.length - 1} of ${POSTGRES_MIGRATIONS.length} and role keyward_app may not change its schema`,
      );
      expect(refused).toContain('run keyward migrate with a role that owns the schema');

      const migrated = await runCli(['migrate', '--config', configFor(ownerUrl)], { env });
      expect(migrated.stderr).toBe('');
      expect(migrated.code).toBe(0);
      gateway = await startGatewayProcess(configFor(servingUrl), {
        ...env,
        KEYWARD_DATA_DIR: freshDataDir(),
      });

      const minted = await adminCall(gateway.adminUrl, 'POST', '/admin/tokens', { name: 'dml' });
      expect(minted.status).toBe(201);
      const res = await request(`${gateway.dataUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${minted.json.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(res.statusCode).toBe(200);
      await res.body.dump();
      const conv = await request(`${gateway.dataUrl}/v1/responses`, {
        method: 'POST',
        headers: { authorization: `Bearer ${minted.json.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'fast', input: 'hi', store: true }),
      });
      expect(await conv.body.text()).toContain('"completed"');

      gateway.child.kill('SIGTERM');
      expect(await gateway.exited).toBe(0);
      const errors = gateway.lines.filter((line) => /"level":"(error|warn)"|permission denied/.test(line));
      expect(errors.join('\n')).not.toMatch(/permission denied/);
      expect(gateway.stderr()).toBe('');
    });
  },
);
