import { randomBytes } from 'node:crypto';
import type { TokenRecord } from '../store/index.js';

/** The dashboard's session cookie: `__Host-` (Secure, Path=/, no Domain), HttpOnly, SameSite=Strict. */
export const ADMIN_COOKIE = '__Host-keyward_admin';
const LIFETIME_MS = 8 * 3_600_000;
const MAX_SESSIONS = 1_000;

export interface AdminUiSession {
  /** The admin-scoped token that logged in; null for the admin key. */
  actor: TokenRecord | null;
  expiresAt: number;
}

/**
 * Dashboard logins, held in this process's memory: a random 256-bit id in the cookie, looked up
 * here (a hash lookup: timing tells nothing about a 256-bit random id). An operator logs in again
 * after a restart; nothing about the session is ever stored.
 */
export class AdminUiSessions {
  private readonly sessions = new Map<string, AdminUiSession>();

  constructor(private readonly now: () => number = Date.now) {}

  create(actor: TokenRecord | null): { id: string; maxAgeSec: number } {
    this.prune();
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(id, { actor, expiresAt: this.now() + LIFETIME_MS });
    return { id, maxAgeSec: LIFETIME_MS / 1000 };
  }

  get(id: string | undefined): AdminUiSession | undefined {
    if (id === undefined || !/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
    const session = this.sessions.get(id);
    return session && session.expiresAt > this.now() ? session : undefined;
  }

  end(id: string | undefined): void {
    if (id !== undefined) this.sessions.delete(id);
  }

  /** Ends the sessions a revoked token opened. */
  endFor(tokenId: string): void {
    for (const [id, session] of this.sessions) if (session.actor?.id === tokenId) this.sessions.delete(id);
  }

  private prune(): void {
    const now = this.now();
    for (const [id, session] of this.sessions) if (session.expiresAt <= now) this.sessions.delete(id);
  }
}

export function adminCookie(id: string, maxAgeSec: number): string {
  return `${ADMIN_COOKIE}=${id}; Max-Age=${Math.max(0, Math.floor(maxAgeSec))}; Path=/; Secure; HttpOnly; SameSite=Strict`;
}
