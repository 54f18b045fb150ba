import { GatewayError } from '../errors/gateway-error.js';

const WINDOW_MS = 60_000;
/** Addresses tracked at most; the oldest window is dropped first (an attack from many addresses costs memory only up to this). */
const MAX_ADDRESSES = 100_000;

interface Window {
  startedAt: number;
  failures: number;
}

/**
 * Brute-force protection: an address that fails authentication more than `perMinute` times in a
 * minute gets 429 for the rest of that minute, before its credential is even looked at. Kept per
 * instance: it guards each process's CPU, and a guesser gains nothing from spreading attempts
 * across instances that it would not from spreading them across minutes.
 */
export class FailureGuard {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Throws 429 when `ip` is over its limit. */
  check(ip: string): void {
    const window = this.windows.get(ip);
    if (!window || window.failures < this.perMinute) return;
    const left = window.startedAt + WINDOW_MS - this.now();
    if (left <= 0) {
      this.windows.delete(ip);
      return;
    }
    throw new GatewayError(
      429,
      'rate_limit_error',
      'Too many failed authentication attempts from your address',
      {
        code: 'too_many_auth_failures',
        headers: { 'retry-after': String(Math.ceil(left / 1000)) },
      },
    );
  }

  failed(ip: string): void {
    const now = this.now();
    let window = this.windows.get(ip);
    if (!window || now - window.startedAt >= WINDOW_MS) {
      this.windows.delete(ip);
      if (this.windows.size >= MAX_ADDRESSES) this.windows.delete(this.windows.keys().next().value!);
      window = { startedAt: now, failures: 0 };
      this.windows.set(ip, window);
    }
    window.failures++;
  }
}
