import type { Pool } from 'pg';
import { inTransactionOnce } from './pg-transaction.js';
import { type AuditRow, auditFromRow } from './rows.js';
import { GENESIS_MAC } from './sqlite-audit.js';
import type { AuditRecord, AuditStore } from './types.js';

/** Serialises appends across every process on the database; released at commit or rollback. */
const AUDIT_CHAIN_LOCK = 0x6b77_6131;

const LAST = 'SELECT * FROM audit ORDER BY seq DESC LIMIT 1';

export function pgAudit(pool: Pool): AuditStore {
  return {
    async appendChained(entries, seal) {
      // Once: a batch whose commit went unanswered and was appended again was in the chain twice,
      // each copy sealed and linked, so that verification could not tell.
      return inTransactionOnce(pool, async (client) => {
        // The transaction-scoped advisory lock plays SQLite's BEGIN IMMEDIATE: no other writer can
        // read the chain's end between our read and our inserts, so one chain stays verifiable.
        await client.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_CHAIN_LOCK]);
        const previous = (await client.query<AuditRow>(LAST)).rows[0];
        let seq = previous?.seq ?? 0;
        let prevMac = previous?.mac ?? GENESIS_MAC;
        const records: AuditRecord[] = [];
        for (const { at, type, actor, data } of entries) {
          const unsealed = { seq: ++seq, at, type, actor, data, prevMac };
          const mac = seal(unsealed);
          records.push({ ...unsealed, mac });
          prevMac = mac;
        }
        // One statement for the batch: a round trip per record would hold the chain's lock longer.
        await client.query(
          `INSERT INTO audit (seq, at, type, actor, data, prev_mac, mac)
           SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])`,
          [
            records.map((r) => r.seq),
            records.map((r) => r.at),
            records.map((r) => r.type),
            records.map((r) => r.actor),
            records.map((r) => JSON.stringify(r.data)),
            records.map((r) => r.prevMac),
            records.map((r) => r.mac),
          ],
        );
        return records;
      });
    },
    async list(filter = {}) {
      const { rows } = await pool.query<AuditRow>(
        `SELECT * FROM audit WHERE seq > $1 AND ($2 = '' OR type = $2) AND ($3 = '' OR actor = $3)
           AND at >= $4 AND at < $5
         ORDER BY seq LIMIT $6`,
        [
          filter.afterSeq ?? 0,
          filter.type ?? '',
          filter.actor ?? '',
          filter.since ?? 0,
          filter.until ?? Number.MAX_SAFE_INTEGER,
          filter.limit ?? 1000,
        ],
      );
      return rows.map(auditFromRow);
    },
    async last() {
      const row = (await pool.query<AuditRow>(LAST)).rows[0];
      return row && auditFromRow(row);
    },
  };
}
