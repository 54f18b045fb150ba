import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SQLITE_MIGRATIONS } from '../../src/store/migrations.js';
import { freshDataDir } from '../support/process.js';

const STORE = pathToFileURL(join(import.meta.dirname, '../../dist/store/index.js')).href;

/** A process that opens (and so migrates) the store at `path` once the clock reaches `at`. */
async function opener(path: string, at: number): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { openSqliteStore } = await import(${JSON.stringify(STORE)});
       while (Date.now() < ${at});
       await openSqliteStore(${JSON.stringify(path)}).close();`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const [code] = await once(child, 'exit');
  return { code, stderr };
}

/**
 * Starts at the same moment on one store behind (a new data directory, two containers restarted
 * together) took turns at its write lock, and each ran the migrations it had found pending:
 * the second failed on the first's work ("table already exists", "duplicate column name"); and one
 * that read the tables and the version apart, another's migration landing between, took the store
 * for damaged ("records schema version 4 but table(s) … are missing").
 */
describe('SQLite migrations run by processes at once', { timeout: 60_000 }, () => {
  it('apply each migration once, and every process opens the store', async () => {
    for (let round = 0; round < 6; round++) {
      const path = join(freshDataDir(), 'keyward.db');
      const at = Date.now() + 1_500;
      const results = await Promise.all(Array.from({ length: 8 }, () => opener(path, at)));
      for (const result of results) expect(result).toEqual({ code: 0, stderr: '' });
      const db = new Database(path, { readonly: true });
      try {
        expect(db.pragma('user_version', { simple: true })).toBe(SQLITE_MIGRATIONS.length);
      } finally {
        db.close();
      }
    }
  });
});
