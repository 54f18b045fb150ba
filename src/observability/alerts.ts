export type AlertKind =
  | 'request_spike'
  | 'spend_spike'
  | 'auth_failure_burst'
  | 'budget_exhausted'
  | 'key_rejected'
  | 'key_too_old';

export interface Alert {
  kind: AlertKind;
  /** A token id, a provider/key id, or 'all'. */
  subject: string;
  message: string;
  /** Epoch ms. */
  at: number;
  detail?: Record<string, number | string>;
}

/** An alert raised outside the monitor; `at` defaults to the monitor's clock. */
export type RaisedAlert = Omit<Alert, 'at'> & { at?: number };

export interface AlertMonitorOptions {
  spikeFactor: number;
  authFailuresPerMinute: number;
  /** Called synchronously on the request path: it should only queue. */
  emit: (alert: Alert) => void;
  now?: () => number;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
/** The baseline is the average of up to this many finished minutes. */
const WINDOW_MINUTES = 60;
/** One slot per minute of the window plus the current one. */
const SLOTS = WINDOW_MINUTES + 1;
/** A token younger than this has no baseline worth comparing against. */
const MIN_HISTORY_MINUTES = 5;
/** Below these a quiet token's jump (1 → 11 requests) is noise, not an incident. */
const MIN_SPIKE_REQUESTS = 20;
const MIN_SPIKE_MICROS = 1_000_000;
/** Caps memory at ~1 KB per token; beyond it the least recently seen token is forgotten. */
export const MAX_TRACKED_TOKENS = 10_000;
/** Caps the once-per-hour memory of subjects (budgets, keys) the same way. */
const MAX_RATE_LIMITED_SUBJECTS = 10_000;

/**
 * One token's traffic in one-minute buckets: `buckets[minute % SLOTS]` holds requests and
 * `buckets[SLOTS + minute % SLOTS]` spend in micro-dollars. The window sums are kept running so
 * a request never walks the window.
 */
interface TokenWindow {
  buckets: Float64Array;
  /** The minute the current bucket belongs to. */
  minute: number;
  firstMinute: number;
  requestSum: number;
  spendSum: number;
  requestAlertMinute: number;
  spendAlertMinute: number;
}

/** Events counted per minute, to tell once a minute when they go over a threshold. */
export class MinuteBurst {
  private minute = -1;
  private count = 0;
  private alertedMinute = -1;

  /** Counts one event at `now`; the minute's count when this one is the first over `threshold`. */
  add(now: number, threshold: number): number | undefined {
    const minute = Math.floor(now / MINUTE_MS);
    if (minute !== this.minute) {
      this.minute = minute;
      this.count = 0;
    }
    this.count++;
    if (this.count <= threshold || this.alertedMinute === minute) return undefined;
    this.alertedMinute = minute;
    return this.count;
  }
}

/**
 * Watches the request path for anomalies: a token's requests or spend in the current minute far
 * above its average of the last hour, a burst of failed authentications, an exhausted budget.
 * Every hot-path call is O(1) and allocates nothing once the token is known; minutes roll over
 * lazily on access, so there are no timers. Each alert is raised at most once per minute (spikes,
 * bursts) or once per hour (budgets and key alerts) for its subject.
 */
export class AlertMonitor {
  private spikeFactor: number;
  private authFailuresPerMinute: number;
  private readonly emitAlert: (alert: Alert) => void;
  private readonly now: () => number;
  /** Map order approximates recency: a token is moved to the end once per minute it is seen. */
  private readonly tokens = new Map<string, TokenWindow>();
  private readonly authBursts = new MinuteBurst();
  private sharedAuthCount: ((threshold: number) => void) | undefined;
  private sharedRequestCount:
    | ((tokenId: string, costMicros: number, spikeFactor: number) => void)
    | undefined;
  /** `kind:subject` → when it last alerted; insertion order is alert order. */
  private readonly lastRaised = new Map<string, number>();

  constructor(options: AlertMonitorOptions) {
    this.spikeFactor = options.spikeFactor;
    this.authFailuresPerMinute = options.authFailuresPerMinute;
    this.emitAlert = options.emit;
    this.now = options.now ?? Date.now;
  }

  /** Re-read thresholds (SIGHUP); the traffic windows already counted carry over. */
  reconfigure(options: Pick<AlertMonitorOptions, 'spikeFactor' | 'authFailuresPerMinute'>): void {
    this.spikeFactor = options.spikeFactor;
    this.authFailuresPerMinute = options.authFailuresPerMinute;
  }

  /** How many tokens have traffic windows, for tests and metrics. */
  get trackedTokens(): number {
    return this.tokens.size;
  }

  /** One request of `tokenId` that cost `costMicros`. */
  request(tokenId: string, costMicros: number): void {
    if (this.sharedRequestCount) {
      this.sharedRequestCount(tokenId, costMicros, this.spikeFactor);
      return;
    }
    this.count(tokenId, 1, costMicros);
  }

  /**
   * Counts requests somewhere else (the primary of `--workers N`, which sees every worker's): each
   * request goes to `count` with the spike factor, and the spikes found there come back to `spike`.
   */
  countRequestsWith(count: (tokenId: string, costMicros: number, spikeFactor: number) => void): void {
    this.sharedRequestCount = count;
  }

  /** A spike found by whoever counts this monitor's requests: raised as it was found. */
  spike(alert: Alert): void {
    this.emit(alert);
  }

  /** `requests` requests of `tokenId` that cost `costMicros` in all, counted in this minute. */
  count(tokenId: string, requests: number, costMicros: number): void {
    const at = this.now();
    const minute = Math.floor(at / MINUTE_MS);
    const window = this.windowFor(tokenId, minute);
    const slot = minute % SLOTS;
    const buckets = window.buckets;
    buckets[slot]! += requests;
    // `> 0` also turns away NaN, which would poison the running sums for the next hour.
    if (costMicros > 0) buckets[SLOTS + slot]! += costMicros;
    const inMinute = buckets[slot]!;
    const spend = buckets[SLOTS + slot]!;

    const history = minute - window.firstMinute;
    if (history < MIN_HISTORY_MINUTES) return;
    const minutes = Math.min(history, WINDOW_MINUTES);

    if (window.requestAlertMinute !== minute && inMinute >= MIN_SPIKE_REQUESTS) {
      const average = window.requestSum / minutes;
      if (inMinute > this.spikeFactor * average) {
        window.requestAlertMinute = minute;
        this.emit({
          kind: 'request_spike',
          subject: tokenId,
          message: `Token ${tokenId} made ${inMinute} requests this minute, over ${this.spikeFactor}× its average of ${average.toFixed(1)} per minute`,
          at,
          detail: { requests: inMinute, averagePerMinute: round(average), spikeFactor: this.spikeFactor },
        });
      }
    }
    if (window.spendAlertMinute !== minute && spend >= MIN_SPIKE_MICROS) {
      const average = window.spendSum / minutes;
      if (spend > this.spikeFactor * average) {
        window.spendAlertMinute = minute;
        this.emit({
          kind: 'spend_spike',
          subject: tokenId,
          message: `Token ${tokenId} spent $${(spend / 1e6).toFixed(2)} this minute, over ${this.spikeFactor}× its average of $${(average / 1e6).toFixed(2)} per minute`,
          at,
          detail: {
            spendMicros: spend,
            averageMicrosPerMinute: round(average),
            spikeFactor: this.spikeFactor,
          },
        });
      }
    }
  }

  /**
   * Counts failed authentications somewhere else (the primary of `--workers N`, which sees every
   * worker's): each failure goes to `count` with the threshold, and that counter calls `authBurst`.
   */
  countAuthFailuresWith(count: (threshold: number) => void): void {
    this.sharedAuthCount = count;
  }

  /** A failed authentication from any address; bursts are counted across all of them. */
  authFailure(): void {
    if (this.sharedAuthCount) {
      this.sharedAuthCount(this.authFailuresPerMinute);
      return;
    }
    const failures = this.authBursts.add(this.now(), this.authFailuresPerMinute);
    if (failures !== undefined) this.authBurst(failures, this.authFailuresPerMinute);
  }

  /** `failures` this minute went over `threshold`: raised once, by whoever counted them. */
  authBurst(failures: number, threshold: number): void {
    this.emit({
      kind: 'auth_failure_burst',
      subject: 'all',
      message: `More than ${threshold} failed authentications this minute`,
      at: this.now(),
      detail: { failures, threshold },
    });
  }

  budgetExhausted(subject: string): void {
    this.raise({ kind: 'budget_exhausted', subject, message: `Budget exhausted for ${subject}` });
  }

  /**
   * For alerts detected elsewhere (a provider rejecting a key, a key past its rotation age).
   * Their sources can repeat every request or refresh, so each kind and subject alerts at most
   * once per hour.
   */
  raise(alert: RaisedAlert): void {
    const at = alert.at ?? this.now();
    const key = `${alert.kind}:${alert.subject}`;
    const last = this.lastRaised.get(key);
    // One raised at a later time than this one was raised under a wall clock since stepped back: had
    // it counted, the subject would stay silent for the size of the step (a month after a month's).
    if (last !== undefined && at >= last && at - last < HOUR_MS) return;
    this.lastRaised.delete(key);
    this.lastRaised.set(key, at);
    if (this.lastRaised.size > MAX_RATE_LIMITED_SUBJECTS) {
      this.lastRaised.delete(this.lastRaised.keys().next().value!);
    }
    this.emit({ ...alert, at });
  }

  private emit(alert: Alert): void {
    try {
      this.emitAlert(alert);
    } catch {
      // A broken alert sink must not fail the request that tripped it.
    }
  }

  /** The token's window rolled forward to `minute`, created (or recycled from the stalest) if new. */
  private windowFor(tokenId: string, minute: number): TokenWindow {
    let window = this.tokens.get(tokenId);
    if (window === undefined) {
      window = this.newWindow(minute);
      this.tokens.set(tokenId, window);
      return window;
    }
    if (window.minute !== minute) {
      advance(window, minute);
      // Re-inserting once per minute keeps eviction close to least-recently-seen without paying
      // a Map delete and set on every request.
      this.tokens.delete(tokenId);
      this.tokens.set(tokenId, window);
    }
    return window;
  }

  private newWindow(minute: number): TokenWindow {
    let buckets: Float64Array;
    if (this.tokens.size >= MAX_TRACKED_TOKENS) {
      const [stalestId, stalest] = this.tokens.entries().next().value!;
      this.tokens.delete(stalestId);
      buckets = stalest.buckets.fill(0);
    } else {
      buckets = new Float64Array(2 * SLOTS);
    }
    return {
      buckets,
      minute,
      firstMinute: minute,
      requestSum: 0,
      spendSum: 0,
      requestAlertMinute: -1,
      spendAlertMinute: -1,
    };
  }
}

/**
 * Moves the window's current minute forward: each finished minute joins the running sums and
 * the minute that falls out of the last hour leaves them. Bounded by SLOTS steps.
 */
function advance(window: TokenWindow, minute: number): void {
  const buckets = window.buckets;
  if (minute - window.minute >= SLOTS) {
    // Everything in the ring is older than an hour: the window is an hour of silence.
    buckets.fill(0);
    window.requestSum = 0;
    window.spendSum = 0;
  } else {
    for (let next = window.minute + 1; next <= minute; next++) {
      const finished = (next - 1) % SLOTS;
      const expired = next % SLOTS;
      window.requestSum += buckets[finished]! - buckets[expired]!;
      window.spendSum += buckets[SLOTS + finished]! - buckets[SLOTS + expired]!;
      buckets[expired] = 0;
      buckets[SLOTS + expired] = 0;
    }
  }
  window.minute = minute;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
