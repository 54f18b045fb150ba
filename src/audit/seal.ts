import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AuditRecord } from '../store/types.js';
import { canonicalJson } from './canonical.js';

export type UnsealedRecord = Omit<AuditRecord, 'mac'>;

/**
 * The hex HMAC-SHA256 of a record's fields (and nothing else it may carry), canonically encoded:
 * seq and prevMac are covered, so a record cannot be moved or re-linked without breaking its mac.
 */
export function sealRecord(key: Buffer, record: UnsealedRecord): string {
  const { seq, at, type, actor, data, prevMac } = record;
  return createHmac('sha256', key)
    .update(canonicalJson({ seq, at, type, actor, data, prevMac }))
    .digest('hex');
}

/** Whether `mac` seals `record` under `key`; constant-time so a guesser learns nothing from timing. */
export function macMatches(key: Buffer, record: UnsealedRecord, mac: string): boolean {
  const expected = Buffer.from(sealRecord(key, record), 'utf8');
  const actual = Buffer.from(mac, 'utf8');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
