import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasPostgres, POSTGRES_MISSING, postgresBinDir, startPostgres } from '../support/postgres.js';

if (!hasPostgres()) console.warn(POSTGRES_MISSING);

function query(url: string, sql: string): { status: number | null; stdout: string } {
  const psql = join(postgresBinDir() ?? '', 'psql');
  return spawnSync(psql, ['-X', '-A', '-t', '-d', url, '-c', sql], { encoding: 'utf8' });
}

describe.skipIf(!hasPostgres())('private Postgres for tests', () => {
  it('starts an empty cluster on a loopback port that answers queries, and stops it', async () => {
    const server = await startPostgres();
    try {
      const answer = query(server.url, "select count(*) from pg_tables where schemaname = 'public'");
      expect(answer.status).toBe(0);
      expect(answer.stdout.trim()).toBe('0');
      expect(query(server.url, 'show fsync').stdout.trim()).toBe('off');
    } finally {
      await server.stop();
    }
    expect(query(server.url, 'select 1').status).not.toBe(0);
  });
});
