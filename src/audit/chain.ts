import { GENESIS_MAC } from '../store/sqlite-audit.js';
import type { AuditRecord, AuditStore, MetaStore } from '../store/types.js';
import { ChainReader, UnreadableRecordError } from './chain-reader.js';
import type { ChainHead, ChainProblem } from './chain-types.js';
import { diagnose } from './diagnose.js';
import { macMatches } from './seal.js';

export type { ChainHead, ChainProblem, ChainProblemKind } from './chain-types.js';
export { macMatches, sealRecord, type UnsealedRecord } from './seal.js';

/** The meta entry where the gateway keeps the newest record it wrote (a `ChainHead` as JSON). */
export const AUDIT_HEAD = 'audit_head';

export type VerifyResult =
  | { ok: true; checked: number; lastSeq: number }
  | { ok: false; checked: number; problem: ChainProblem };

export interface VerifyOptions {
  /** Records read per query; bounds memory whatever the length of the chain. */
  batch?: number;
  expectedHead?: ChainHead;
}

/**
 * Walks the whole chain in seq order and reports the first problem. A record whose mac seals its
 * content is genuine, so its position tells the rest:
 * - a genuine record after a gap in seq: deleted (reported at the first missing seq);
 * - a genuine record linked to a predecessor other than the record before it: forged (spliced in
 *   from another chain sealed with the same key, e.g. an old backup);
 * - a genuine record at `expectedHead.seq` that is not the head, or a chain that ends before it:
 *   truncated (the newest records were deleted, then possibly appended to again);
 * - a record whose mac does not seal its content: see `diagnose` (edited, reordered, deleted or
 *   forged); a record whose data cannot be read at all: edited.
 */
export async function verifyChain(
  store: AuditStore,
  key: Buffer,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const batch = Math.max(1, options.batch ?? 500);
  const { expectedHead } = options;
  const reader = new ChainReader(store, batch);
  let previous: ChainHead = { seq: 0, mac: GENESIS_MAC };
  let checked = 0;
  const fail = (problem: ChainProblem): VerifyResult => ({ ok: false, checked, problem });
  try {
    for (let record = await reader.next(); record; record = await reader.next()) {
      if (!macMatches(key, record, record.mac)) {
        return fail(await diagnose(record, { store, key, batch, expectedHead }));
      }
      const problem = misplaced(record, previous, expectedHead);
      if (problem) return fail(problem);
      checked++;
      previous = { seq: record.seq, mac: record.mac };
    }
  } catch (error) {
    if (!(error instanceof UnreadableRecordError)) throw error;
    return fail({ seq: error.afterSeq + 1, kind: 'edited', message: error.message });
  }
  if (expectedHead && previous.seq < expectedHead.seq) {
    return fail({
      seq: previous.seq + 1,
      kind: 'truncated',
      message: `the chain ends at seq ${previous.seq}, before the expected head at seq ${expectedHead.seq}`,
    });
  }
  return { ok: true, checked, lastSeq: previous.seq };
}

/** The problem with a genuine record's position, if any. */
function misplaced(
  record: AuditRecord,
  previous: ChainHead,
  expectedHead: ChainHead | undefined,
): ChainProblem | undefined {
  const { seq } = record;
  if (seq !== previous.seq + 1) {
    const missing =
      seq - 1 === previous.seq + 1 ? `seq ${seq - 1} is` : `seqs ${previous.seq + 1}-${seq - 1} are`;
    return { seq: previous.seq + 1, kind: 'deleted', message: `${missing} missing from the chain` };
  }
  if (record.prevMac !== previous.mac) {
    return {
      seq,
      kind: 'forged',
      message: `seq ${seq} is sealed with this key but chained to a record other than seq ${previous.seq}`,
    };
  }
  if (expectedHead && seq === expectedHead.seq && record.mac !== expectedHead.mac) {
    return {
      seq,
      kind: 'truncated',
      message: `seq ${seq} is not the expected head: the newest records were deleted and the chain regrown`,
    };
  }
  return undefined;
}

/** The whole stored chain, checked against the head the gateway recorded (`keyward audit verify`, the dashboard). */
export async function verifyStoredChain(
  store: { audit: AuditStore; meta: MetaStore },
  key: Buffer,
): Promise<VerifyResult> {
  const raw = await store.meta.get(AUDIT_HEAD);
  const expectedHead = raw ? (JSON.parse(raw) as ChainHead) : undefined;
  return verifyChain(store.audit, key, expectedHead ? { expectedHead } : {});
}
