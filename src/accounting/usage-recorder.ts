import type { UsageDelta, UsageStore } from '../store/index.js';
import { retryUntil } from '../store/retry-until.js';

export interface UsageRecorderOptions {
  store: UsageStore;
  /** Longest a recorded request waits before it is written (and what a crash can lose). */
  intervalMs?: number;
  onError(error: unknown): void;
}

const keyOf = (d: UsageDelta) =>
  `${d.day}\0${d.tokenId ?? ''}\0${d.userId ?? ''}\0${d.model}\0${d.provider}\0${d.template ?? ''}`;

/**
 * Usage per request, summed in memory per (day, token, user, model, provider) and written in one
 * transaction every `intervalMs` (default 1 s) and at shutdown. The hot path does one Map update;
 * a crash loses at most the last interval's counts, a shutdown only what the store still refuses
 * when its grace period ends (and says so).
 */
export class UsageRecorder {
  private pending = new Map<string, UsageDelta>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly options: UsageRecorderOptions) {
    this.timer = setInterval(() => void this.flush(), options.intervalMs ?? 1_000);
    this.timer.unref();
  }

  record(delta: UsageDelta): void {
    const key = keyOf(delta);
    const sum = this.pending.get(key);
    if (!sum) {
      this.pending.set(key, { ...delta });
      return;
    }
    sum.requests += delta.requests;
    sum.inputTokens += delta.inputTokens;
    sum.outputTokens += delta.outputTokens;
    sum.cachedTokens += delta.cachedTokens;
    sum.costMicros += delta.costMicros;
  }

  flush(): Promise<void> {
    return this.write().then(() => undefined);
  }

  /**
   * Writes every count recorded so far, and rejects when the store refused them (they are kept for
   * the next attempt): for a reader of the store that must not go on without them.
   */
  async written(): Promise<void> {
    const failure = await this.write();
    if (failure) throw failure.error;
  }

  /** Chained after the write in progress, so that it holds every count recorded before the call. */
  private write(): Promise<{ error: unknown } | undefined> {
    const done = this.flushing.then(async () => {
      if (this.pending.size === 0) return undefined;
      const batch = [...this.pending.values()];
      this.pending = new Map();
      try {
        await this.options.store.add(batch);
        return undefined;
      } catch (error) {
        // Keep the counts for the next attempt rather than lose them.
        for (const delta of batch) this.record(delta);
        this.options.onError(error);
        return { error };
      }
    });
    this.flushing = done.then(() => undefined);
    return done;
  }

  /**
   * Writes every count, trying again while the store refuses them until `deadline` (epoch ms; by
   * default one attempt): a store that is down for a moment at shutdown (a Postgres restart, a
   * backup holding SQLite's lock) must not cost the last seconds of spend. Rejects naming what was
   * lost when the store still refuses them then.
   */
  async close(deadline = Date.now()): Promise<void> {
    clearInterval(this.timer);
    await retryUntil(deadline, async () => (await this.write()) !== undefined);
    if (this.pending.size === 0) return;
    const lost = [...this.pending.values()];
    this.pending = new Map();
    const requests = lost.reduce((n, d) => n + d.requests, 0);
    const usd = lost.reduce((n, d) => n + d.costMicros, 0) / 1e6;
    const entries = `${lost.length} usage ${lost.length === 1 ? 'entry' : 'entries'}`;
    throw new Error(
      `usage of ${requests} request${requests === 1 ? '' : 's'} ($${usd}, ${entries}) was never written: ` +
        'the store still refused it when the shutdown grace period (shutdown.graceMs) ran out; the ' +
        'errors logged before say why',
    );
  }
}
