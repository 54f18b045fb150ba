import type { AuditEntry, AuditStore, MetaStore } from '../store/types.js';
import type { ChainHead } from './chain-types.js';
import { sealRecord } from './seal.js';

/** What one append wrote: the first seq and the newest record. */
export interface AppendedRange {
  firstSeq: number;
  head: ChainHead;
}

/** Appends batches of entries to the chain, sealing each record under the audit key. */
export interface AuditAppender {
  /** Undefined for an empty batch. */
  append(entries: readonly AuditEntry[]): Promise<AppendedRange | undefined>;
  close(): Promise<void>;
}

/** Where the newest record is kept beside the chain (`AUDIT_HEAD`), for `expectedHead`. */
export interface HeadRecord {
  meta: MetaStore;
  name: string;
}

/**
 * Appends on the calling thread, through the store's own transaction, then records the newest
 * record in `head`.
 */
export function storeAppender(store: AuditStore, key: Buffer, head?: HeadRecord): AuditAppender {
  const seal = (record: Parameters<typeof sealRecord>[1]) => sealRecord(key, record);
  return {
    async append(entries) {
      const records = await store.appendChained(entries, seal);
      const first = records[0];
      const last = records.at(-1);
      if (!first || !last) return undefined;
      const range = { firstSeq: first.seq, head: { seq: last.seq, mac: last.mac } };
      // The batch is committed: a failed head write must not fail the append, or the batch would be
      // written again. Verification then only compares against an older head.
      await head?.meta.set(head.name, JSON.stringify(range.head)).catch(() => undefined);
      return range;
    },
    async close() {},
  };
}
