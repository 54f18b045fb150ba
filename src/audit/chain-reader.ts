import type { AuditRecord, AuditStore } from '../store/types.js';

/** A record whose stored data is not JSON: the store cannot return it, so nothing can vouch for it. */
export class UnreadableRecordError extends Error {
  override name = 'UnreadableRecordError';
  constructor(readonly afterSeq: number) {
    super(`the record after seq ${afterSeq} cannot be read (its data is not JSON)`);
  }
}

/**
 * Reads the whole chain in seq order, `batch` records at a time, with one record of lookahead.
 * The store parses each row's data, and one unparsable row fails its whole batch: the reader then
 * reads one record at a time so the failure is pinned to the record after the last good one.
 */
export class ChainReader {
  private buffer: AuditRecord[] = [];
  private index = 0;
  private afterSeq: number;
  private done = false;
  /** Set when a batch stopped short at an unreadable record, which the next read must report. */
  private unreadableAfter: number | undefined;

  constructor(
    private readonly store: AuditStore,
    private readonly batch: number,
    afterSeq = 0,
  ) {
    this.afterSeq = afterSeq;
  }

  async peek(): Promise<AuditRecord | undefined> {
    if (this.index >= this.buffer.length && !this.done) await this.fill();
    return this.buffer[this.index];
  }

  async next(): Promise<AuditRecord | undefined> {
    const record = await this.peek();
    if (record) this.index++;
    return record;
  }

  private async fill(): Promise<void> {
    if (this.unreadableAfter !== undefined) throw new UnreadableRecordError(this.unreadableAfter);
    this.buffer = await this.read();
    this.index = 0;
    if (this.buffer.length < this.batch && this.unreadableAfter === undefined) this.done = true;
    const last = this.buffer.at(-1);
    if (last) this.afterSeq = last.seq;
  }

  private async read(): Promise<AuditRecord[]> {
    try {
      return await this.store.list({ afterSeq: this.afterSeq, limit: this.batch });
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
    }
    const records: AuditRecord[] = [];
    let afterSeq = this.afterSeq;
    for (let i = 0; i < this.batch; i++) {
      let one: AuditRecord[];
      try {
        one = await this.store.list({ afterSeq, limit: 1 });
      } catch (error) {
        if (!(error instanceof SyntaxError)) throw error;
        if (records.length === 0) throw new UnreadableRecordError(afterSeq);
        // Hand back the good records first so they are checked before the bad one is reported.
        this.unreadableAfter = afterSeq;
        return records;
      }
      const record = one[0];
      if (!record) break;
      records.push(record);
      afterSeq = record.seq;
    }
    return records;
  }
}
