import { GatewayError } from '../errors/gateway-error.js';
import { addressSubject } from './address-subject.js';
import { parseToken } from './token-format.js';

const WINDOW_MS = 60_000;
/** Subjects tracked at most; the oldest window is dropped first (an attack from many addresses costs memory only up to this). */
const MAX_SUBJECTS = 100_000;

interface Window {
  startedAt: number;
  failures: number;
}

/** What a failed credential counts against: the client's address, and the token id it named. */
export function failureSubjects(ip: string, credential: string | undefined): string[] {
  const id = credential === undefined ? undefined : parseToken(credential)?.id;
  return id === undefined ? [addressSubject(ip)] : [addressSubject(ip), `token:${id}`];
}

/**
 * Brute-force protection. Failed authentications are counted per subject (the client's address,
 * and the token id a wrong secret was sent for) in one-minute windows; once a subject is over
 * `perMinute`, its further failures are answered 429 with Retry-After instead of 401, so a
 * guesser is told to stop. A request that carries a valid credential is never refused here: the
 * credential is checked first, so neighbours behind one NAT or proxy, and the owner of a token
 * someone is guessing at, keep working. Kept per instance: a guesser gains nothing from spreading
 * attempts across instances that it would not from spreading them across minutes. The workers of
 * one instance count together (see `share` and `full`), or round-robin would multiply the limit.
 */
export class FailureGuard {
  private readonly windows = new Map<string, Window>();

  /**
   * `share`, in a worker of `--workers N`, is told the subjects each failure counted against and
   * did not refuse here, for the primary's count of every worker's; a subject already refused is
   * left out, so a guesser past its limit costs the primary nothing.
   */
  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
    private readonly share?: (subjects: string[]) => void,
  ) {}

  /**
   * Counts one failure against each subject; returns the 429 to answer instead of the caller's
   * own error when any of them is over its limit.
   */
  failed(subjects: readonly string[]): GatewayError | undefined {
    let wait = 0;
    const shared: string[] | undefined = this.share ? [] : undefined;
    for (const subject of subjects) {
      const window = this.count(subject);
      if (window.failures > this.perMinute) {
        wait = Math.max(wait, window.startedAt + WINDOW_MS - this.now());
      } else {
        shared?.push(subject);
      }
    }
    if (shared && shared.length > 0) this.share?.(shared);
    if (wait <= 0) return undefined;
    return new GatewayError(429, 'rate_limit_error', 'Too many failed authentication attempts; slow down', {
      code: 'too_many_auth_failures',
      headers: { 'retry-after': String(Math.max(1, Math.ceil(wait / 1000))) },
    });
  }

  /**
   * The primary's count for its workers: one failure against `subject`, and how many its window
   * now holds and how long it has left.
   */
  tally(subject: string): { failures: number; waitMs: number } {
    const window = this.count(subject);
    return { failures: window.failures, waitMs: window.startedAt + WINDOW_MS - this.now() };
  }

  /**
   * Told by the primary that `subject`'s window is full for `waitMs` more: its next failure here is
   * refused until then, as if this process had counted them all. At most a minute, as its own.
   */
  full(subject: string, waitMs: number): void {
    const left = Math.min(Math.max(waitMs, 0), WINDOW_MS);
    this.begin(subject, this.now() + left - WINDOW_MS).failures = this.perMinute;
  }

  private count(subject: string): Window {
    const now = this.now();
    let window = this.windows.get(subject);
    if (!window || now - window.startedAt >= WINDOW_MS) {
      window = this.begin(subject, now);
    } else if (window.startedAt > now) {
      // Begun after now (the clock stepped back): it begins now, its failures kept. Left as it was
      // it refused for the size of the step past its minute; started over it would let more through.
      window.startedAt = now;
    }
    window.failures++;
    return window;
  }

  /** A new window for `subject`, in place of its last. */
  private begin(subject: string, startedAt: number): Window {
    this.windows.delete(subject);
    if (this.windows.size >= MAX_SUBJECTS) this.windows.delete(this.windows.keys().next().value!);
    const window = { startedAt, failures: 0 };
    this.windows.set(subject, window);
    return window;
  }
}
