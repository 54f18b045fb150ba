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
 * someone is guessing at, keep working. Kept per instance: it guards each process, and a guesser
 * gains nothing from spreading attempts across instances that it would not from spreading them
 * across minutes.
 */
export class FailureGuard {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Counts one failure against each subject; returns the 429 to answer instead of the caller's
   * own error when any of them is over its limit.
   */
  failed(subjects: readonly string[]): GatewayError | undefined {
    let wait = 0;
    for (const subject of subjects) {
      const window = this.count(subject);
      if (window.failures > this.perMinute) {
        wait = Math.max(wait, window.startedAt + WINDOW_MS - this.now());
      }
    }
    if (wait <= 0) return undefined;
    return new GatewayError(429, 'rate_limit_error', 'Too many failed authentication attempts; slow down', {
      code: 'too_many_auth_failures',
      headers: { 'retry-after': String(Math.max(1, Math.ceil(wait / 1000))) },
    });
  }

  private count(subject: string): Window {
    const now = this.now();
    let window = this.windows.get(subject);
    if (!window || now - window.startedAt >= WINDOW_MS) {
      this.windows.delete(subject);
      if (this.windows.size >= MAX_SUBJECTS) this.windows.delete(this.windows.keys().next().value!);
      window = { startedAt: now, failures: 0 };
      this.windows.set(subject, window);
    } else if (window.startedAt > now) {
      // Begun after now (the clock stepped back): it begins now, its failures kept. Left as it was
      // it refused for the size of the step past its minute; started over it would let more through.
      window.startedAt = now;
    }
    window.failures++;
    return window;
  }
}
