import { retryUntil } from '../store/retry-until.js';
import type { AuditEntry, AuditStore } from '../store/types.js';
import { type AppendedRange, type AuditAppender, storeAppender } from './appender.js';
import type { ChainHead } from './chain.js';
import { scrubData } from './scrub.js';

/** Where events are recorded; what the sampler and the event helpers need of an `AuditLog`. */
export interface AuditSink {
  record(type: string, actor: string, data?: Record<string, unknown>): void;
}

/**
 * Where batches go: a store, appended to on this thread under `key` (the audit MAC key: 32 random
 * bytes sealed in the store, `loadSealedSecret`), or an appender such as `ThreadAppender`.
 */
export type AuditDestination =
  | { store: AuditStore; key: Buffer; appender?: never }
  | { appender: AuditAppender; store?: never; key?: never };

export type AuditLogOptions = AuditDestination & {
  /** Applied to every string in an event (and its actor) before it is queued. */
  redact: (text: string) => string;
  /** Entries per write; a full batch is written at once. */
  batchSize?: number;
  /** The longest an entry waits in the queue before it is written (while the store is up). */
  intervalMs?: number;
  /** Entries kept while the store is down; beyond it the oldest are dropped and counted. */
  maxQueue?: number;
  /** Store failures, dropped entries and a chain that went backwards; never thrown to the caller. */
  onError?: (error: Error) => void;
  /** The newest record after each write, to keep apart from the chain as `expectedHead`. */
  onHead?: (head: ChainHead) => void;
  now?: () => number;
};

/** While the store keeps failing, retries back off up to this. */
const MAX_RETRY_MS = 10_000;

/**
 * The gateway's audit trail: `record` only scrubs and queues an event, and batches are appended to
 * the chain off the request path, so auditing adds no database latency to a request.
 *
 * Crash-loss bound: entries not yet committed are lost if the process dies. With the store up that
 * is what is queued, less than one batch (`batchSize` entries, or the events of the last
 * `intervalMs`), plus, with an appender on another thread, the batch on its way to it. While the
 * store is down it is everything queued since (at most `maxQueue`). `close()` at shutdown writes
 * them all, waiting for the store until its deadline; what it still cannot write is reported.
 */
export class AuditLog implements AuditSink {
  private readonly appender: AuditAppender;
  private readonly redact: (text: string) => string;
  private readonly batchSize: number;
  private readonly intervalMs: number;
  private readonly maxQueue: number;
  private readonly onError: (error: Error) => void;
  private readonly onHead: ((head: ChainHead) => void) | undefined;
  private readonly now: () => number;
  private queue: AuditEntry[] = [];
  /** Entries of the batch being appended: out of the queue until the append succeeds or fails. */
  private appending = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  /** Flushes run one after another so this process's entries reach the chain in order. */
  private flushing: Promise<void> = Promise.resolve();
  private retryMs: number;
  private failing = false;
  /** Appends that failed so far: a drain queued before the latest failure has nothing new to try. */
  private failures = 0;
  private dropping = false;
  private closed = false;
  /** Entries lost to the queue bound, recorded after `close()`, or still unwritten when it ended. */
  dropped = 0;
  /** The newest record this instance wrote. */
  head: ChainHead | undefined;

  constructor(options: AuditLogOptions) {
    this.appender = options.appender ?? storeAppender(options.store, options.key);
    this.redact = options.redact;
    this.batchSize = Math.max(1, options.batchSize ?? 100);
    this.intervalMs = Math.max(0, options.intervalMs ?? 200);
    this.maxQueue = Math.max(this.batchSize, options.maxQueue ?? 10_000);
    this.onError = options.onError ?? (() => {});
    this.onHead = options.onHead;
    this.now = options.now ?? Date.now;
    this.retryMs = this.intervalMs;
  }

  /** Entries not yet written: queued, or in the batch on its way to the store. */
  get pending(): number {
    return this.queue.length + this.appending;
  }

  /** Queues one event. Never throws and never waits: a failure to audit must not fail a request. */
  record(type: string, actor: string, data: Record<string, unknown> = {}): void {
    try {
      if (this.closed) {
        this.drop(1, 'the audit log is closed');
        return;
      }
      this.queue.push({
        at: this.now(),
        type,
        actor: this.redact(actor),
        data: scrubData(data, this.redact),
      });
      this.enforceBound();
      if (this.failing) return;
      if (this.queue.length >= this.batchSize) this.scheduleNow();
      else this.scheduleLater(this.intervalMs);
    } catch (error) {
      this.report(error);
    }
  }

  /** Writes everything queued so far; failures go to `onError` and the entries stay queued. */
  flush(): Promise<void> {
    return this.write(true);
  }

  /**
   * Writes what is queued and stops: later `record` calls are dropped. While the store refuses the
   * entries it tries again until `deadline` (epoch ms; by default one attempt), since a store down
   * for a moment at shutdown must not cost the trail its last records; entries still unwritten
   * then are dropped, counted and reported to `onError`. An attempt under way at the deadline is
   * waited for: the store's own timeouts bound it.
   */
  async close(deadline = Date.now()): Promise<void> {
    this.closed = true;
    try {
      await retryUntil(deadline, async () => {
        await this.flush();
        return this.queue.length > 0;
      });
    } finally {
      this.clearSchedule();
      await this.appender.close();
    }
    const unwritten = this.queue.length;
    if (unwritten === 0) return;
    this.queue = [];
    this.dropped += unwritten;
    this.report(
      new Error(
        `${unwritten} audit records were never written: the store still refused them when the audit log ` +
          'closed (at shutdown, when shutdown.graceMs ran out); the errors logged before say why',
      ),
    );
  }

  /**
   * Queues a drain: of everything queued now (`all`), or of whole batches only. One that an append
   * failed ahead of is skipped: that failure has scheduled the next try, and with a store that
   * waits out a lock (5 s on SQLite) each drain queued behind it would wait as long again.
   */
  private write(all: boolean): Promise<void> {
    this.clearSchedule();
    const failures = this.failures;
    this.flushing = this.flushing.then(() => (this.failures === failures ? this.drain(all) : undefined));
    return this.flushing;
  }

  /**
   * Writes whole batches, and with `all` everything queued when it starts. Entries recorded while
   * a batch is on its way (an appender on another thread takes a while) wait for a batch of their
   * own to fill, or for the interval: taking whatever trickled in meanwhile made every write a
   * transaction of a few entries.
   */
  private async drain(all: boolean): Promise<void> {
    let due = all ? this.queue.length : 0;
    while (due > 0 || this.queue.length >= this.batchSize) {
      const batch = this.queue.splice(0, this.batchSize);
      due = Math.max(0, due - batch.length);
      let written: AppendedRange | undefined;
      this.appending = batch.length;
      try {
        written = await this.appender.append(batch);
      } catch (error) {
        // Back at the front, ahead of anything recorded during the write, to keep the order.
        this.queue.unshift(...batch);
        this.enforceBound();
        this.failing = true;
        this.failures++;
        this.report(error);
        if (!this.closed) this.scheduleRetry();
        return;
      } finally {
        this.appending = 0;
      }
      this.failing = false;
      this.retryMs = this.intervalMs;
      if (written) this.advanceHead(written);
      // A synchronous store writes each batch on the event loop: let requests run between batches
      // when a backlog is written.
      if (this.queue.length > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (this.queue.length > 0 && !this.closed) this.scheduleLater(this.intervalMs);
  }

  private advanceHead({ firstSeq, head }: AppendedRange): void {
    // Other writers only ever move the chain forward; a seq this instance already wrote means the
    // newest records were deleted under it.
    if (this.head && firstSeq <= this.head.seq) {
      this.report(
        new Error(
          `audit chain went backwards: wrote seq ${firstSeq} after seq ${this.head.seq} (truncated?)`,
        ),
      );
    }
    this.head = head;
    if (this.onHead) {
      try {
        this.onHead(this.head);
      } catch (error) {
        this.report(error);
      }
    }
  }

  private enforceBound(): void {
    const excess = this.queue.length - this.maxQueue;
    if (excess > 0) {
      this.queue.splice(0, excess);
      this.drop(excess, `the audit queue is full (${this.maxQueue} entries): the store is not keeping up`);
    } else if (this.queue.length < this.maxQueue / 2) {
      this.dropping = false;
    }
  }

  /** Counts every drop; reports once per episode so that a long outage does not flood `onError`. */
  private drop(count: number, reason: string): void {
    this.dropped += count;
    if (this.dropping) return;
    this.dropping = true;
    this.report(new Error(`audit entries dropped: ${reason}`));
  }

  private scheduleNow(): void {
    if (this.immediate) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // Not a direct call: a synchronous store would then write inside `record`, on the request path.
    this.immediate = setImmediate(() => {
      this.immediate = undefined;
      void this.write(false);
    });
  }

  private scheduleLater(delayMs: number): void {
    if (this.timer || this.immediate) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delayMs);
    this.timer.unref();
  }

  private scheduleRetry(): void {
    this.clearSchedule();
    this.scheduleLater(this.retryMs);
    this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2);
  }

  private clearSchedule(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  private report(error: unknown): void {
    try {
      this.onError(error instanceof Error ? error : new Error(String(error)));
    } catch {
      // The error reporter failing must not reach the caller of `record`.
    }
  }
}
