import { GENESIS_MAC } from '../store/sqlite-audit.js';
import type { AuditRecord, AuditStore } from '../store/types.js';
import { ChainReader } from './chain-reader.js';
import type { ChainHead, ChainProblem } from './chain-types.js';
import { macMatches } from './seal.js';

/** How far past the end of the chain a renumbered record's original seq is looked for. */
const RENUMBER_WINDOW = 64;

interface DiagnoseContext {
  store: AuditStore;
  key: Buffer;
  batch: number;
  expectedHead: ChainHead | undefined;
}

/**
 * Names what happened to a record whose mac does not seal its content. Runs once, on the first
 * problem only, so its extra pass over the chain does not slow down verifying a sound chain.
 *
 * - reordered: the content, or the whole record, is sealed for another position in this chain;
 * - deleted: the record is sealed for a later seq and its predecessor is nowhere in the chain (the
 *   records before it were deleted and the rest renumbered to hide the gap);
 * - edited: a record that does verify links (possibly through other bad records) to this mac, or
 *   the expected head names it: the mac is genuine and the content was changed after sealing;
 * - forged: nothing genuine vouches for the mac: a record sealed without this key (another master
 *   key, or an attacker's guess), or an edited last record when no expected head is given.
 */
export async function diagnose(record: AuditRecord, context: DiagnoseContext): Promise<ChainProblem> {
  const { key } = context;
  const { seq } = record;
  let recordBelongsAt: number | undefined;
  let contentBelongsAt: number | undefined;
  let predecessorExists = record.prevMac === GENESIS_MAC;
  const reader = new ChainReader(context.store, context.batch);
  try {
    for (let other = await reader.next(); other; other = await reader.next()) {
      if (other.seq === seq) continue;
      if (other.mac === record.prevMac) predecessorExists = true;
      if (recordBelongsAt === undefined && macMatches(key, { ...record, seq: other.seq }, record.mac)) {
        recordBelongsAt = other.seq;
      }
      const moved = { ...record, seq: other.seq, prevMac: other.prevMac };
      if (contentBelongsAt === undefined && macMatches(key, moved, other.mac)) contentBelongsAt = other.seq;
    }
  } catch {
    // An unreadable record further on is reported when the walk reaches it; the diagnosis makes do.
  }
  if (contentBelongsAt !== undefined) {
    return problem(seq, 'reordered', `seq ${seq} holds the content sealed for seq ${contentBelongsAt}`);
  }
  if (recordBelongsAt !== undefined && predecessorExists) {
    return problem(seq, 'reordered', `seq ${seq} holds the record sealed for seq ${recordBelongsAt}`);
  }
  const sealedFor = recordBelongsAt ?? renumberedFrom(record, key);
  if (sealedFor !== undefined && sealedFor > seq) {
    return problem(
      seq,
      'deleted',
      `seq ${seq} holds the record sealed for seq ${sealedFor}: records were deleted and the rest renumbered`,
    );
  }
  if (await vouched(record, context)) {
    return problem(seq, 'edited', `seq ${seq} was changed after it was sealed (its mac does not match)`);
  }
  return problem(
    seq,
    'forged',
    `seq ${seq} has a mac not made with this key and nothing genuine links to it ` +
      '(sealed with another key, added without the key, or an edited last record)',
  );
}

function renumberedFrom(record: AuditRecord, key: Buffer): number | undefined {
  for (let shift = 1; shift <= RENUMBER_WINDOW; shift++) {
    if (macMatches(key, { ...record, seq: record.seq + shift }, record.mac)) return record.seq + shift;
  }
  return undefined;
}

/** Whether a record that verifies, or the expected head, links to `record`'s mac. */
async function vouched(record: AuditRecord, context: DiagnoseContext): Promise<boolean> {
  const { expectedHead } = context;
  const reader = new ChainReader(context.store, context.batch, record.seq);
  let current: AuditRecord = record;
  try {
    for (let next = await reader.next(); next; next = await reader.next()) {
      if (next.seq !== current.seq + 1 || next.prevMac !== current.mac) return false;
      if (macMatches(context.key, next, next.mac)) return true;
      current = next;
    }
  } catch {
    return false;
  }
  return expectedHead !== undefined && expectedHead.seq === current.seq && expectedHead.mac === current.mac;
}

const problem = (seq: number, kind: ChainProblem['kind'], message: string): ChainProblem => ({
  seq,
  kind,
  message,
});
