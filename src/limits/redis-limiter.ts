import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import {
  ACQUIRE,
  ADD_SPEND,
  MARK,
  REREGISTER,
  RESTORE_SPEND,
  SEED,
  SETTLE,
  STATUS,
  UNWRITTEN_MS,
} from './redis-scripts.js';
import { tighter } from './token-bucket.js';
import type {
  AcquireRequest,
  Acquisition,
  BudgetRule,
  ConcurrencyRule,
  Denial,
  Lease,
  Limiter,
  LimitStatus,
  Quota,
  RateRule,
  SpentBefore,
} from './types.js';
import { StatusUnavailableError } from './unwritten-usage.js';

export type FailMode = 'closed' | 'open';

export interface RedisLimiterOptions {
  url: string;
  /** Namespace for every key, so several gateways (or tests) can share one Redis. */
  prefix?: string;
  /** What `acquire` answers when Redis cannot be asked: deny everything, or allow unlimited. */
  failMode: FailMode;
  spentBefore: SpentBefore;
  /** Told of Redis trouble at most once a second, so an outage does not flood the logs. */
  onBackendError(error: Error, failMode: FailMode): void;
}

/**
 * Short, because every request waits on Redis: a dead one should cost a request half a second
 * at most, and nothing at all once the connection is known to be down (no offline queue).
 */
const TIMEOUT_MS = 500;
const RECONNECT_MAX_MS = 1_000;
const REPORT_EVERY_MS = 1_000;
const UNAVAILABLE_RETRY_MS = 1_000;
/** Seeding races a counter's expiry at most this often before the request gives up. */
const MAX_SEED_ROUNDS = 3;
/**
 * How long a load's mark (`MARK`) keeps the spend settled during it: a read of the durable store
 * that takes longer is read again.
 */
const LOAD_MARK_MS = 60_000;

type Reply = ReadonlyArray<string | number>;

interface LimitsCommands {
  keywardAcquire(numKeys: number, ...args: string[]): Promise<Reply>;
  keywardSettle(numKeys: number, ...args: string[]): Promise<string | null>;
  keywardRestoreSpend(numKeys: number, ...args: string[]): Promise<number>;
  keywardStatus(numKeys: number, ...args: string[]): Promise<Reply>;
  keywardReregister(numKeys: number, ...args: string[]): Promise<Reply>;
  keywardAddSpend(numKeys: number, ...args: string[]): Promise<string>;
  keywardMark(numKeys: number, ...args: string[]): Promise<number>;
  keywardSeed(numKeys: number, ...args: string[]): Promise<number>;
}

/** A budget key's spend read from the durable store, by the loader named in its `MARK`. */
interface Load {
  loader: string;
  spent: number;
}

/**
 * ioredis refused to write the command, the connection not being ready (there is no offline
 * queue): the one failure that shows a command never reached Redis. ioredis 5's own wording;
 * test/integration/redis-unsent-spend.test.ts fails if it changes.
 */
const neverSent = (error: unknown): boolean =>
  error instanceof Error && error.message.startsWith("Stream isn't writeable");

class RedisLease implements Lease {
  settled = false;

  constructor(
    readonly id: string,
    readonly owner: RedisLimiter,
    /**
     * False when handed out by `failMode: 'open'`: Redis holds nothing to settle, but its budgets
     * (`budgetKeys`) are still charged what it spent.
     */
    readonly backed: boolean,
    /** The dataset it was taken in (ACQUIRE's answer); unused tokens go back only to that one. */
    readonly epoch: string,
    readonly tokenRules: readonly RateRule[],
    readonly tokenEstimate: number,
    readonly concurrencyKeys: readonly string[],
    readonly budgetKeys: readonly string[],
    /** What its budgets hold reserved for it, and until when (epoch ms, this host's clock). */
    readonly reservation?: { estimateMicros: number; until: number },
  ) {}
}

/**
 * Limits shared by every gateway instance on one Redis. Each operation is one Lua script, so an
 * acquire is all-or-nothing across its rules and exact across instances. Budget counters are
 * seeded outside the scripts (the durable store is not reachable from Lua): a script that finds
 * one missing says so, the client seeds it with SET NX and asks again.
 */
export class RedisLimiter implements Limiter {
  private readonly redis: Redis & LimitsCommands;
  private readonly prefix: string;
  private readonly failMode: FailMode;
  private readonly spentBefore: SpentBefore;
  private readonly onBackendError: RedisLimiterOptions['onBackendError'];
  private readonly instance = randomBytes(6).toString('base64url');
  private readonly loading = new Map<string, Promise<Load>>();
  private readonly firstReady: Promise<void>;
  /** Set by the first connection, or the first failure to make one. */
  private startupOver = false;
  private reportedAt = Number.NEGATIVE_INFINITY;
  private seq = 0;
  /**
   * Leases holding a budget reservation, until settled: a Redis that restarts empty (or fails
   * over) has lost their reservations, and the budget would let the same spend be reserved twice.
   * They are put back whenever a connection becomes ready.
   */
  private readonly reserving = new Map<string, RedisLease>();
  /**
   * Budget spend Redis never received, summed per budget key, with the dataset it was lost against
   * (see `keepUnsent`): one entry per key, dropped once sent.
   */
  private readonly unsent = new Map<string, { micros: number; epoch: string }>();
  /** Releases of acquires whose answer was lost, refused for want of a connection (see `release`). */
  private readonly unreleased: RedisLease[] = [];
  /** The `epoch` of the dataset the last ready connection found (none before the first). */
  private epoch: string | undefined;
  /**
   * Budget spend settled in Redis in the last UNWRITTEN_MS, per budget key, with the dataset it
   * went into: the usage recorder writes it to the durable store a second or so later, and a
   * Redis that restarts empty meanwhile has lost it (see `restoreRecent`).
   */
  private readonly recent = new Map<string, Array<{ at: number; micros: number; epoch: string }>>();
  /** When `recent` was last swept of the keys settled no more (sessions', tokens' gone idle). */
  private sweptAt = 0;

  constructor(options: RedisLimiterOptions) {
    this.prefix = options.prefix ?? 'keyward:limits:';
    this.failMode = options.failMode;
    this.spentBefore = options.spentBefore;
    this.onBackendError = options.onBackendError;
    const redis = new Redis(options.url, {
      connectTimeout: TIMEOUT_MS,
      commandTimeout: TIMEOUT_MS,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      // The scripts called in one turn of the event loop leave in one write. Each command's own
      // write was the largest item of the event loop's profile at c=50 (writeUtf8String, 13.6 %;
      // 3.2 % batched): a system call on a loopback socket costs tens of µs on a small VM.
      enableAutoPipelining: true,
      retryStrategy: (attempt) => Math.min(attempt * 100, RECONNECT_MAX_MS),
    });
    redis.defineCommand('keywardAcquire', { lua: ACQUIRE });
    redis.defineCommand('keywardSettle', { lua: SETTLE });
    redis.defineCommand('keywardStatus', { lua: STATUS });
    redis.defineCommand('keywardReregister', { lua: REREGISTER });
    redis.defineCommand('keywardAddSpend', { lua: ADD_SPEND });
    redis.defineCommand('keywardMark', { lua: MARK });
    redis.defineCommand('keywardSeed', { lua: SEED });
    redis.defineCommand('keywardRestoreSpend', { lua: RESTORE_SPEND });
    redis.on('ready', () => {
      this.reregister();
      this.addUnsent();
      this.releaseUnreleased();
    });
    // Without a listener ioredis prints every connection error itself.
    redis.on('error', (error: Error) => {
      this.startupOver = true;
      this.report(error);
    });
    this.firstReady = new Promise((resolve) => redis.once('ready', () => resolve()));
    this.firstReady.then(() => {
      this.startupOver = true;
    });
    this.redis = redis as Redis & LimitsCommands;
  }

  async acquire(request: AcquireRequest): Promise<Acquisition> {
    const estimate = Math.round(request.costEstimateMicros);
    const keys = [
      ...request.rates.map((rule) => `${this.prefix}r:${rule.key}`),
      ...request.concurrency.map((rule) => `${this.prefix}c:${rule.key}`),
      ...this.budgetKeys(request.budgets),
      `${this.prefix}epoch`,
    ];
    const id = `${this.instance}.${++this.seq}`;
    const args = [
      String(request.rates.length),
      String(request.concurrency.length),
      String(request.budgets.length),
      id,
      String(request.leaseMs),
      String(estimate),
    ];
    for (const rule of request.rates) {
      const cost = rule.kind === 'requests' ? 1 : request.tokenEstimate;
      args.push(String(rule.limit), String(rule.windowMs), String(cost));
    }
    for (const rule of request.concurrency) args.push(String(rule.limit));
    for (const rule of request.budgets) args.push(String(rule.limitMicros));

    const leaseIn = (epoch: string, reservation?: RedisLease['reservation']) =>
      new RedisLease(
        id,
        this,
        true,
        epoch,
        request.rates.filter((rule) => rule.kind === 'tokens'),
        request.tokenEstimate,
        request.concurrency.map((rule) => rule.key),
        request.budgets.map((rule) => rule.key),
        reservation,
      );
    // Written, then not answered (timed out, cut off): Redis may run it still.
    let unanswered = false;
    let reply: Reply;
    try {
      reply = await this.seeded(request.budgets, () =>
        this.redis.keywardAcquire(keys.length, ...keys, ...args).catch((error: unknown) => {
          unanswered = !neverSent(error);
          throw error;
        }),
      );
    } catch (error) {
      if (!(error instanceof LimiterUnavailableError)) throw error;
      this.report(error.cause);
      // Its epoch unknown: SETTLE then refunds only a lease Redis shows it holds.
      if (unanswered) this.release(leaseIn(''));
      if (this.failMode === 'closed') {
        const denial: Denial = { kind: 'unavailable', key: 'backend', retryAfterMs: UNAVAILABLE_RETRY_MS };
        return { allowed: false, denial };
      }
      const budgetKeys = request.budgets.map((rule) => rule.key);
      return { allowed: true, lease: new RedisLease(id, this, false, '', [], 0, [], budgetKeys) };
    }

    let requests: Quota | undefined;
    let tokens: Quota | undefined;
    request.rates.forEach((rule, i) => {
      const remaining = Number(reply[4 + 2 * i]);
      const quota = { limit: rule.limit, remaining, resetMs: Number(reply[5 + 2 * i]) };
      if (rule.kind === 'requests') requests = tighter(requests, quota);
      else tokens = tighter(tokens, quota);
    });
    if (Number(reply[0]) !== 1) {
      return { allowed: false, denial: this.denialOf(request, reply), requests, tokens };
    }
    const reserves = estimate > 0 && request.budgets.length > 0;
    const lease = leaseIn(
      String(reply[4 + 2 * request.rates.length]),
      reserves ? { estimateMicros: estimate, until: Date.now() + request.leaseMs } : undefined,
    );
    if (reserves) this.reserving.set(id, lease);
    return { allowed: true, lease, requests, tokens };
  }

  async settle(lease: Lease, actualTokens: number, actualCostMicros: number): Promise<void> {
    if (!(lease instanceof RedisLease) || lease.owner !== this) {
      throw new TypeError('lease was not issued by this limiter');
    }
    if (lease.settled) return;
    lease.settled = true;
    this.reserving.delete(lease.id);
    const cost = Math.round(actualCostMicros);
    if (!lease.backed) {
      this.keepUnsent(lease.budgetKeys, cost);
      return;
    }
    try {
      await this.ready();
      const epoch = await this.sendSettle(lease, actualTokens, cost);
      if (cost > 0 && epoch) this.remember(lease.budgetKeys, cost, epoch);
    } catch (error) {
      // The slots and the reservation lapse with their lease.
      if (neverSent(error)) this.keepUnsent(lease.budgetKeys, cost);
      this.report(error);
    }
  }

  /** Notes a settle's spend for UNWRITTEN_MS (see `recent`), dropping what is older. */
  private remember(budgetKeys: readonly string[], micros: number, epoch: string): void {
    const now = Date.now();
    if (now - this.sweptAt > UNWRITTEN_MS) {
      this.sweptAt = now;
      for (const [key, entries] of this.recent)
        if (now - entries.at(-1)!.at > UNWRITTEN_MS) this.recent.delete(key);
    }
    for (const key of budgetKeys) {
      const entries = this.recent.get(key) ?? [];
      if (entries.length === 0) this.recent.set(key, entries);
      while (entries.length > 0 && now - entries[0]!.at > UNWRITTEN_MS) entries.shift();
      entries.push({ at: now, micros, epoch });
    }
  }

  /**
   * Redis came back as a new dataset (restarted empty, failed over): the budget counters were
   * seeded again, or will be, from the durable store, which may not yet hold this instance's
   * spend of its last second or so. Settled in the lost dataset, it is put back (`RESTORE_SPEND`):
   * counted twice when it was written before the read, over, never under.
   */
  private restoreRecent(epoch: string): void {
    const now = Date.now();
    const keys = [`${this.prefix}epoch`];
    const args = [epoch, `${this.instance}.`];
    for (const [key, entries] of this.recent) {
      const lost = entries
        .filter((entry) => now - entry.at <= UNWRITTEN_MS && entry.epoch !== epoch)
        .reduce((sum, entry) => sum + entry.micros, 0);
      if (lost === 0) continue;
      keys.push(`${this.prefix}bs:${key}`, `${this.prefix}bl:${key}`, `${this.prefix}bu:${key}`);
      args.push(String(lost));
    }
    if (keys.length === 1) return;
    this.redis
      .keywardRestoreSpend(keys.length, ...keys, ...args)
      .catch((error: unknown) => this.report(error));
  }

  private sendSettle(lease: RedisLease, actualTokens: number, cost: number): Promise<string | null> {
    const keys = [
      ...lease.tokenRules.map((rule) => `${this.prefix}r:${rule.key}`),
      ...lease.concurrencyKeys.map((key) => `${this.prefix}c:${key}`),
      ...lease.budgetKeys.flatMap((key) => [
        ...this.budgetKeysOf(key),
        `${this.prefix}bl:${key}`,
        `${this.prefix}bu:${key}`,
      ]),
      `${this.prefix}epoch`,
    ];
    const args = [
      String(lease.tokenRules.length),
      String(lease.concurrencyKeys.length),
      String(lease.budgetKeys.length),
      lease.id,
      String(actualTokens - lease.tokenEstimate),
      String(cost),
      lease.epoch,
    ];
    for (const rule of lease.tokenRules) args.push(String(rule.limit), String(rule.windowMs));
    return this.redis.keywardSettle(keys.length, ...keys, ...args);
  }

  /**
   * Undoes an acquire whose answer was lost. Redis may have run it, or run it yet: a stalled Redis
   * (a fork, CLIENT PAUSE) runs it once it resumes, and ioredis writes it again on reconnecting.
   * Its slots and reservation would then be held for no request until the lease lapsed (the total
   * deadline plus a minute): one stall under load could refuse a token for that long. A settle of
   * nothing, written after it on the connection (Redis runs a connection's commands in order, and
   * ioredis writes the unanswered ones again before the ready event), frees them and gives the
   * tokens it reserved back, not the request it cost, as a client that left is settled. Harmless
   * when the acquire made no lease, or when it runs twice: see SETTLE.
   *
   * Kept only when surely not written, as spend is (see `keepUnsent`): one written and then timed
   * out or cut off runs anyway or is written again.
   */
  private release(lease: RedisLease): void {
    this.sendSettle(lease, 0, 0).catch((error: unknown) => {
      if (neverSent(error)) this.unreleased.push(lease);
      this.report(error);
    });
  }

  /** Taken out before they are sent, so a connection that is closing cannot make this spin. */
  private releaseUnreleased(): void {
    for (const lease of this.unreleased.splice(0)) this.release(lease);
  }

  async status(
    rates: readonly RateRule[],
    concurrency: readonly ConcurrencyRule[],
    budgets: readonly BudgetRule[],
  ): Promise<LimitStatus> {
    const keys = [
      ...rates.map((rule) => `${this.prefix}r:${rule.key}`),
      ...concurrency.map((rule) => `${this.prefix}c:${rule.key}`),
      ...this.budgetKeys(budgets),
    ];
    const args = [String(rates.length), String(concurrency.length), String(budgets.length)];
    for (const rule of rates) args.push(String(rule.limit), String(rule.windowMs));
    let reply: Reply;
    try {
      reply = await this.seeded(budgets, () => this.redis.keywardStatus(keys.length, ...keys, ...args));
    } catch (error) {
      if (!(error instanceof LimiterUnavailableError)) throw error;
      this.report(error.cause);
      // Answered as a request the backend cannot admit: 503, retry shortly (not a 500).
      throw new StatusUnavailableError(UNAVAILABLE_RETRY_MS);
    }
    let at = 0;
    const next = () => Number(reply[at++]);
    return {
      rates: rates.map((rule) => ({ ...rule, limit: rule.limit, remaining: next(), resetMs: next() })),
      concurrency: concurrency.map((rule) => ({ ...rule, inUse: next() })),
      budgets: budgets.map((rule) => ({ ...rule, spentMicros: next(), reservedMicros: next() })),
    };
  }

  /** Puts back the reservations of the leases not settled yet (see `reserving`). */
  private reregister(): void {
    const now = Date.now();
    for (const [id, { reservation, budgetKeys }] of this.reserving) {
      const left = (reservation?.until ?? now) - now;
      if (!reservation || left <= 0) {
        this.reserving.delete(id);
        continue;
      }
      const keys = budgetKeys.flatMap((key) => this.budgetKeysOf(key).slice(1));
      this.redis
        .keywardReregister(keys.length, ...keys, id, String(reservation.estimateMicros), String(left))
        .catch((error: unknown) => this.report(error));
    }
  }

  /**
   * Keeps spend that did not reach Redis, to add once a connection is ready (at once when one
   * is): without it a budget's counter stays short of it until the counter's daily reseed, and a
   * client can spend past its budget by what every request that ended during an outage cost.
   *
   * Kept only when Redis surely did not get it: a settle refused before it was written (the
   * connection was down), and a fail-open lease's, which no script counts. A settle that was
   * written and then timed out or lost its connection is not kept: ioredis writes unanswered
   * commands again when it reconnects (`autoResendUnfulfilledCommands`), and one that timed out on
   * a live connection still runs, so keeping it too would count it twice.
   *
   * Added only where the counter still exists in the dataset it was lost against (`epoch`): a
   * counter that is missing, or was seeded again in a Redis that restarted empty (by another
   * instance that reconnected first), comes from the durable store, which has this spend. Spend
   * lost before the first connection is not kept: nothing tells which dataset it belongs in. Left:
   * a counter that expired and was seeded again during the outage, in the same dataset, may count
   * it twice until its next reseed (at most a day).
   */
  private keepUnsent(budgetKeys: readonly string[], micros: number): void {
    if (this.epoch === undefined || micros <= 0 || budgetKeys.length === 0) return;
    for (const key of budgetKeys) this.keep(key, micros, this.epoch);
    // Ready already (a connection came back while this settle failed, or a fail-open lease ended
    // after the outage): the ready event that sends what is kept may be past.
    if (this.redis.status === 'ready') this.addUnsent();
  }

  private keep(key: string, micros: number, epoch: string): void {
    // Lost against a dataset since replaced: that one's counters are seeded from the store.
    if (epoch !== this.epoch) return;
    const kept = this.unsent.get(key);
    this.unsent.set(key, { micros: (kept?.epoch === epoch ? kept.micros : 0) + micros, epoch });
  }

  /**
   * Sends what `unsent` holds, and learns the dataset's epoch (on every ready connection, even
   * with nothing to send). Taken out before it is sent, so a second call cannot send it again; put
   * back only if it surely was not sent, and then only sent on the next ready connection, so a
   * connection that is closing cannot make this spin.
   */
  private addUnsent(): void {
    const kept = [...this.unsent];
    this.unsent.clear();
    const keys = [`${this.prefix}epoch`, ...kept.map(([key]) => `${this.prefix}bs:${key}`)];
    const args = [randomBytes(9).toString('base64url')];
    for (const [, { micros, epoch }] of kept) args.push(epoch, String(micros));
    this.redis.keywardAddSpend(keys.length, ...keys, ...args).then(
      (epoch) => {
        const previous = this.epoch;
        this.epoch = String(epoch);
        if (previous !== undefined && previous !== this.epoch) this.restoreRecent(this.epoch);
      },
      (error: unknown) => {
        if (neverSent(error)) for (const [key, { micros, epoch }] of kept) this.keep(key, micros, epoch);
        this.report(error);
      },
    );
  }

  async close(): Promise<void> {
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }

  /**
   * Runs a script, seeding the budget counters it reports missing and running it again. Redis
   * failures come out as LimiterUnavailableError; the durable store's own failures come out as they are.
   */
  private async seeded(budgets: readonly BudgetRule[], run: () => Promise<Reply>): Promise<Reply> {
    for (let round = 0; ; round++) {
      let reply: Reply;
      try {
        await this.ready();
        reply = await run();
      } catch (error) {
        throw new LimiterUnavailableError(error);
      }
      if (reply[0] !== 'seed') return reply;
      if (round === MAX_SEED_ROUNDS)
        throw new LimiterUnavailableError(new Error('budget counters expire as they are seeded'));
      const missing = reply.slice(1).map((index) => budgets[Number(index) - 1]!);
      try {
        const loads = await Promise.all(missing.map((rule) => this.load(rule.key)));
        // A seed refused (its mark was lost) is read again in the next round.
        await Promise.all(
          missing.map((rule, i) =>
            this.redis
              .keywardSeed(
                3,
                `${this.prefix}bs:${rule.key}`,
                `${this.prefix}bl:${rule.key}`,
                `${this.prefix}bu:${rule.key}`,
                loads[i]!.loader,
                String(Math.round(loads[i]!.spent)),
                String(rule.ttlMs),
              )
              .catch((error: unknown) => {
                throw new LimiterUnavailableError(error);
              }),
          ),
        );
      } finally {
        // Kept until the seed has landed: a request whose script ran before it (its reply comes
        // first on this connection) shares this load instead of starting another.
        for (const rule of missing) this.loading.delete(rule.key);
      }
    }
  }

  /**
   * One `spentBefore` per key at a time, however many requests meet the key unseeded. Its MARK
   * goes out in the same synchronous run as the read begins (see `MARK`): this instance's settles
   * sent before it are in what `spentBefore` reads, those after are added to it by SEED. Another
   * instance's settle after the mark is counted twice when its usage reached the store before the
   * read: over, not under. A MARK that fails leaves no mark, and SEED asks for the read again.
   */
  private load(key: string): Promise<Load> {
    let pending = this.loading.get(key);
    if (!pending) {
      const loader = `${this.instance}.${++this.seq}`;
      this.redis
        .keywardMark(2, `${this.prefix}bs:${key}`, `${this.prefix}bl:${key}`, loader, String(LOAD_MARK_MS))
        .catch((error: unknown) => this.report(error));
      pending = this.spentBefore(key).then((spent) => {
        if (!Number.isFinite(spent)) throw new TypeError(`spentBefore(${key}) returned ${spent}`);
        return { loader, spent };
      });
      this.loading.set(key, pending);
    }
    return pending;
  }

  /**
   * Waits for the first connection at startup, so the first requests after a boot are not
   * refused; once it has been made or has failed, a connection that is down fails at once.
   */
  private async ready(): Promise<void> {
    if (this.startupOver || this.redis.status === 'ready') return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, TIMEOUT_MS);
    });
    await Promise.race([this.firstReady, timeout]);
    clearTimeout(timer);
  }

  private denialOf(request: AcquireRequest, reply: Reply): Denial {
    const index = Number(reply[2]) - 1;
    const retryAfterMs = Number(reply[3]);
    switch (reply[1]) {
      case 'r': {
        const rule = request.rates[index]!;
        return { kind: rule.kind, key: rule.key, retryAfterMs };
      }
      case 'c':
        return { kind: 'concurrency', key: request.concurrency[index]!.key, retryAfterMs };
      default:
        return {
          kind: 'budget',
          key: request.budgets[index]!.key,
          retryAfterMs,
          spent: reply[1] !== 'b',
          ...(reply[1] === 'W' && { oversized: true }),
        };
    }
  }

  private budgetKeys(budgets: readonly BudgetRule[]): string[] {
    return budgets.flatMap((rule) => this.budgetKeysOf(rule.key));
  }

  private budgetKeysOf(key: string): string[] {
    return [`${this.prefix}bs:${key}`, `${this.prefix}br:${key}`, `${this.prefix}be:${key}`];
  }

  private report(error: unknown): void {
    const now = Date.now();
    if (now - this.reportedAt < REPORT_EVERY_MS) return;
    this.reportedAt = now;
    this.onBackendError(error instanceof Error ? error : new Error(String(error)), this.failMode);
  }
}

/**
 * Redis itself failed, as opposed to the durable store behind `spentBefore`. `status` rejects
 * with StatusUnavailableError for it (a 503 for the caller); `acquire` turns it into the fail
 * mode's answer instead.
 */
export class LimiterUnavailableError extends Error {
  override readonly cause: unknown;

  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'LimiterUnavailableError';
    this.cause = cause;
  }
}

export function createRedisLimiter(options: RedisLimiterOptions): Limiter {
  return new RedisLimiter(options);
}
