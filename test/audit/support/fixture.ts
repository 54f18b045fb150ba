import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sealRecord } from '../../../src/audit/index.js';
import type { WriterThread } from '../../../src/gateway/writer-thread.js';
import { openSqliteStore, type Store } from '../../../src/store/index.js';
import type { AuditRow } from '../../../src/store/rows.js';
import type { AuditEntry, AuditRecord, AuditStore } from '../../../src/store/types.js';
import { builtWriterThread } from '../../support/writer-thread.js';

/** A real SQLite store in a fresh directory; `connect` opens another connection to the same file. */
export interface AuditFixture {
  dir: string;
  path: string;
  store: Store;
  key: Buffer;
  connect(): Store;
  /** Runs raw SQL against the file, as someone with write access to the database but no key would. */
  tamper(change: (db: Database.Database) => void): void;
  close(): Promise<void>;
}

export function openFixture(): AuditFixture {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-audit-'));
  const path = join(dir, 'keyward.db');
  const opened: Store[] = [];
  const connect = (): Store => {
    const store = openSqliteStore(path);
    opened.push(store);
    return store;
  };
  return {
    dir,
    path,
    store: connect(),
    key: randomBytes(32),
    connect,
    tamper(change) {
      const db = new Database(path);
      try {
        change(db);
      } finally {
        db.close();
      }
    },
    async close() {
      for (const store of opened.splice(0)) await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function entry(i: number, extra: Record<string, unknown> = {}): AuditEntry {
  return {
    at: 1_700_000_000_000 + i,
    type: i % 3 === 0 ? 'request' : 'token.created',
    actor: `tok_${i % 7}`,
    data: { i, requestId: `req-${i}`, nested: { b: [1, 'two', { z: true, a: null }], a: 'x' }, ...extra },
  };
}

/** Appends `count` entries in batches of `batch`, sealed with `key`. */
export async function writeChain(
  store: AuditStore,
  key: Buffer,
  count: number,
  batch = 50,
  first = 1,
): Promise<AuditRecord[]> {
  const written: AuditRecord[] = [];
  for (let i = first; i < first + count; i += batch) {
    const entries = Array.from({ length: Math.min(batch, first + count - i) }, (_, j) => entry(i + j));
    written.push(...(await store.appendChained(entries, (record) => sealRecord(key, record))));
  }
  return written;
}

export function rawRow(db: Database.Database, seq: number): AuditRow {
  return db.prepare<[number], AuditRow>('SELECT * FROM audit WHERE seq = ?').get(seq)!;
}

/** The gateway's writer thread on `path` (the fixture's file by default), appending with the fixture's key. */
export function fixtureThread(fx: AuditFixture, headName?: string, path = fx.path): WriterThread {
  return builtWriterThread({ databasePath: path, audit: { key: fx.key, headName } });
}
