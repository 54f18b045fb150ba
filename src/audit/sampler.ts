import type { AuditSink } from './audit-log.js';
import { AUDIT_EVENTS, type AuthFailedData, type AuthFailedSampledData } from './events.js';

export interface AuthFailureSamplerOptions {
  log: AuditSink;
  /** Failures per IP per window recorded one by one; the rest are counted into a summary. */
  perWindow?: number;
  windowMs?: number;
  /** IPs tracked at once; beyond it the oldest window is closed early (its summary written). */
  maxIps?: number;
  /** Distinct reasons counted per IP; further ones are counted as `other`. */
  maxReasons?: number;
  /**
   * Who a failure counts against: the address itself by default. An IPv6 client usually holds a
   * whole /64, so counting per address would let it write a record for every guess.
   */
  subjectOf?: (ip: string) => string;
  now?: () => number;
  /** Emit summaries on a timer (unref'd); off when the owner calls `tick` itself (tests). */
  timer?: boolean;
}

interface IpWindow {
  start: number;
  recorded: number;
  suppressed: number;
  reasons: Map<string, number>;
}

/**
 * Keeps failed authentication from flooding the audit log under attack: per client IP, the first
 * `perWindow` failures of each window are recorded individually, and the rest become one
 * `auth.failed.sampled` record per IP per window carrying their count by reason. Memory is bounded
 * by `maxIps` windows of at most `maxReasons` counters each.
 */
export class AuthFailureSampler {
  private readonly log: AuditSink;
  private readonly perWindow: number;
  private readonly windowMs: number;
  private readonly maxIps: number;
  private readonly maxReasons: number;
  private readonly now: () => number;
  private readonly subjectOf: (ip: string) => string;
  /** In order of window start (a restarted window is re-inserted), so the oldest come first. */
  private readonly windows = new Map<string, IpWindow>();
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(options: AuthFailureSamplerOptions) {
    this.log = options.log;
    this.perWindow = options.perWindow ?? 10;
    this.windowMs = options.windowMs ?? 60_000;
    this.maxIps = Math.max(1, options.maxIps ?? 10_000);
    this.maxReasons = Math.max(1, options.maxReasons ?? 16);
    this.now = options.now ?? Date.now;
    this.subjectOf = options.subjectOf ?? ((ip) => ip);
    if (options.timer ?? true) {
      this.timer = setInterval(() => this.tick(), Math.min(this.windowMs, 10_000));
      this.timer.unref();
    }
  }

  /** IPs with an open window. */
  get tracked(): number {
    return this.windows.size;
  }

  /** Records a failure from `ip` one by one, or counts it into its subject's summary. */
  failed(ip: string, reason: string, now = this.now()): void {
    const subject = this.subjectOf(ip);
    let window = this.windows.get(subject);
    if (window && now - window.start >= this.windowMs) {
      this.close(subject, window);
      window = undefined;
    }
    if (!window) {
      this.evictFor(now);
      window = { start: now, recorded: 0, suppressed: 0, reasons: new Map() };
      this.windows.set(subject, window);
    }
    if (window.recorded < this.perWindow) {
      window.recorded++;
      const data: AuthFailedData = { reason };
      this.log.record(AUDIT_EVENTS.authFailed, ip, data);
      return;
    }
    window.suppressed++;
    const counted = window.reasons.has(reason) || window.reasons.size < this.maxReasons ? reason : 'other';
    window.reasons.set(counted, (window.reasons.get(counted) ?? 0) + 1);
  }

  /** Closes every window that has ended, writing the summaries of those that suppressed failures. */
  tick(now = this.now()): void {
    for (const [subject, window] of this.windows) {
      // Windows are in start order: the first one still open ends the scan.
      if (now - window.start < this.windowMs) break;
      this.close(subject, window);
    }
  }

  /** Writes every pending summary and stops the timer (at shutdown). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    for (const [subject, window] of this.windows) this.close(subject, window);
  }

  private evictFor(now: number): void {
    this.tick(now);
    while (this.windows.size >= this.maxIps) {
      const oldest = this.windows.entries().next().value;
      if (!oldest) return;
      this.close(oldest[0], oldest[1]);
    }
  }

  /** The summary's actor is the subject: for IPv6, the /64 the suppressed failures came from. */
  private close(subject: string, window: IpWindow): void {
    this.windows.delete(subject);
    if (window.suppressed === 0) return;
    const data: AuthFailedSampledData = {
      suppressed: window.suppressed,
      // A list, not an object keyed by reason: a reason such as `invalid_token` is named like a
      // secret, and the log drops fields named like secrets.
      reasons: [...window.reasons].map(([reason, count]) => ({ reason, count })),
      windowStart: window.start,
      windowMs: this.windowMs,
    };
    this.log.record(AUDIT_EVENTS.authFailedSampled, subject, data);
  }
}
