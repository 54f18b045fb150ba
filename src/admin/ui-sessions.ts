import { createHash, randomBytes } from 'node:crypto';
import type { AdminSessionStore } from '../store/index.js';

/** The dashboard's session cookie: `__Host-` (Secure, Path=/, no Domain), HttpOnly, SameSite=Strict. */
export const ADMIN_COOKIE = '__Host-keyward_admin';
const LIFETIME_MS = 8 * 3_600_000;
/**
 * Logins kept per actor (an admin key or token), its oldest dropped beyond: counted across all
 * actors, a delegated admin token's logins crowded the operator's out.
 */
const MAX_PER_ACTOR = 20;
/** Logins kept in all, the oldest of token actors dropped beyond: admin tokens can mint admin tokens. */
const MAX_LOGINS = 10_000;
/** What a login by an admin key records before the key's fingerprint; such logins are never crowded out. */
export const ADMIN_KEY_ACTOR = 'admin-key ';
const ID_SHAPE = /^[A-Za-z0-9_-]{43}$/;

const hashOf = (id: string): string => createHash('sha256').update(id).digest('hex');

/**
 * Dashboard logins: a random 256-bit id in the cookie, its SHA-256 in the store, so that every
 * worker and instance on the store knows the login and a logout anywhere ends it everywhere. A
 * lookup by hash tells nothing by its timing about a 256-bit random id.
 */
export class AdminUiSessions {
  constructor(
    private readonly store: AdminSessionStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new login for `actor` (see `AdminSessionRecord`); the actor's oldest go beyond 20. */
  async create(actor: string): Promise<{ id: string; maxAgeSec: number }> {
    const id = randomBytes(32).toString('base64url');
    const now = this.now();
    await this.store.create(
      { hash: hashOf(id), actor, createdAt: now, expiresAt: now + LIFETIME_MS },
      { now, perActor: MAX_PER_ACTOR, total: MAX_LOGINS, spared: ADMIN_KEY_ACTOR },
    );
    return { id, maxAgeSec: LIFETIME_MS / 1000 };
  }

  /** Who the login speaks for; undefined without a live login. */
  async actorOf(id: string | undefined): Promise<string | undefined> {
    if (id === undefined || !ID_SHAPE.test(id)) return undefined;
    return (await this.store.get(hashOf(id), this.now()))?.actor;
  }

  async end(id: string | undefined): Promise<void> {
    if (id !== undefined && ID_SHAPE.test(id)) await this.store.remove(hashOf(id));
  }

  /** Ends the logins of a token revoked or expired, or of an admin key no longer configured. */
  async endFor(actor: string): Promise<void> {
    await this.store.removeFor(actor);
  }
}

export function adminCookie(id: string, maxAgeSec: number): string {
  return `${ADMIN_COOKIE}=${id}; Max-Age=${Math.max(0, Math.floor(maxAgeSec))}; Path=/; Secure; HttpOnly; SameSite=Strict`;
}
