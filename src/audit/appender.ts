import type { AuditEntry, AuditStore } from '../store/types.js';
import type { ChainHead } from './chain.js';
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

/** Appends on the calling thread, through the store's own transaction. */
export function storeAppender(store: AuditStore, key: Buffer): AuditAppender {
  const seal = (record: Parameters<typeof sealRecord>[1]) => sealRecord(key, record);
  return {
    async append(entries) {
      const records = await store.appendChained(entries, seal);
      const first = records[0];
      const last = records.at(-1);
      return first && last ? { firstSeq: first.seq, head: { seq: last.seq, mac: last.mac } } : undefined;
    },
    async close() {},
  };
}
