import type Database from 'better-sqlite3';
import { type AuditRow, auditFromRow } from './rows.js';
import type { AuditEntry, AuditRecord, AuditStore } from './types.js';

export const GENESIS_MAC = '0'.repeat(64);

export function sqliteAudit(db: Database.Database): AuditStore {
  // Positional parameters: binding by name costs a property lookup per column per row.
  const insert = db.prepare(
    'INSERT INTO audit (seq, at, type, actor, data, prev_mac, mac) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const last = db.prepare<[], AuditRow>('SELECT * FROM audit ORDER BY seq DESC LIMIT 1');
  const appendAll = db.transaction(
    (entries: readonly AuditEntry[], seal: (record: Omit<AuditRecord, 'mac'>) => string): AuditRecord[] => {
      const previous = last.get();
      let seq = previous?.seq ?? 0;
      let prevMac = previous?.mac ?? GENESIS_MAC;
      const records: AuditRecord[] = [];
      for (const { at, type, actor, data } of entries) {
        const unsealed = { seq: ++seq, at, type, actor, data, prevMac };
        const mac = seal(unsealed);
        insert.run(seq, at, type, actor, JSON.stringify(data), prevMac, mac);
        records.push({ ...unsealed, mac });
        prevMac = mac;
      }
      return records;
    },
  );
  const list = db.prepare<Record<string, string | number>, AuditRow>(
    `SELECT * FROM audit WHERE seq > @afterSeq AND (@type = '' OR type = @type) AND (@actor = '' OR actor = @actor)
       AND at >= @since AND at < @until
     ORDER BY seq LIMIT @limit`,
  );
  return {
    async appendChained(entries, seal) {
      // IMMEDIATE takes the write lock before reading the chain's end: no other process can
      // append between the read and the writes.
      return appendAll.immediate(entries, seal);
    },
    async list(filter = {}) {
      return list
        .all({
          afterSeq: filter.afterSeq ?? 0,
          type: filter.type ?? '',
          actor: filter.actor ?? '',
          since: filter.since ?? 0,
          until: filter.until ?? Number.MAX_SAFE_INTEGER,
          limit: filter.limit ?? 1000,
        })
        .map(auditFromRow);
    },
    async last() {
      const row = last.get();
      return row && auditFromRow(row);
    },
  };
}
