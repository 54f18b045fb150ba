import { timingSafeEqual } from 'node:crypto';
import { addressSubject } from '../auth/address-subject.js';
import type { TokenPrincipal } from '../auth/index.js';
import { RevocationCursor } from '../auth/revocation-cursor.js';
import { forgetMintedUnder } from '../auth/tokens.js';
import { SecretString } from '../keys/secret-string.js';
import type { SessionGrant, SessionRecord, Store, TokenRecord } from '../store/index.js';
import { GuestPrincipals, sessionPrincipal } from './principal.js';
import {
  formatCode,
  formatRefreshCookie,
  formatSessionCookie,
  hashSecret,
  newSecret,
  newSessionId,
  parseCode,
  parseRefreshCookie,
  parseSessionCookie,
  sameHash,
  successorSecrets,
} from './secrets.js';

export interface SessionSettings {
  /** Session cookie lifetime. */
  sessionTtlMs: number;
  /** Longest a login lasts (its refresh tokens). */
  refreshTtlMs: number;
  /** A refresh token unused this long ends the login. */
  refreshIdleMs: number;
  /** How long a replaced refresh token still works (two tabs refreshing at once). */
  graceMs: number;
  /**
   * Guest access while it is enabled (`auth.guest`): the grant, and the limits all guests share. A
   * guest session is held to the grant configured now, not the one it was opened with, and is
   * refused once guests are turned off.
   */
  guest?: { grant: SessionGrant; total: TokenRecord['limits']; maxStored: number };
}

/**
 * The token that signed a session in (its `createdBy`) and the tokens above it, nearest first,
 * while every one of them is live; undefined once any is revoked or expired (`TokenService.liveLineage`).
 */
export type CreatorLineage = (tokenId: string) => Promise<readonly TokenRecord[] | undefined>;

/** A session cookie's failure; only a caller holding the right secret learns more than `invalid`. */
export type SessionFailure = 'invalid' | 'expired' | 'revoked';
export type SessionCheck =
  | { principal: TokenPrincipal; session: SessionRecord }
  | { failure: SessionFailure };

/** A new session cookie and refresh token, to be set on the response. */
export interface Issued {
  session: SessionRecord;
  sessionCookie: string;
  refreshCookie: string;
}
export type RefreshResult = Issued | { failure: 'invalid' | 'expired' | 'reused'; session?: SessionRecord };

interface Cached {
  session: SessionRecord;
  hash: Buffer;
  /** The cookie secret last proven against `hash`: later requests compare against it, no HMAC. */
  proven?: SecretString;
  principal: TokenPrincipal;
}

export const CODE_TTL_MS = 60_000;
const NEGATIVE_TTL_MS = 1_000;
const MAX_NEGATIVE = 10_000;
const MAX_ROTATION_TRIES = 3;
/** A replay within the grace follows at most this many rotations made since; more is no second tab. */
const MAX_GENERATIONS_BEHIND = 16;
/** How often sessions that can no longer be used leave the cache and the store (`keepSwept`). */
const SWEEP_EVERY_MS = 60_000;
/** Sessions cached at most, the oldest dropped first: a dropped one costs its next request a store read. */
const MAX_CACHED = 100_000;

/**
 * Browser sessions: one-time login codes, session cookies checked from an in-memory cache (no
 * store read in the steady state), rotating refresh tokens with reuse detection, revocation seen
 * by other instances through `syncRevocations`.
 */
export class SessionService {
  private readonly cache = new Map<string, Cached>();
  private readonly misses = new Map<string, number>();
  private readonly guests = new GuestPrincipals();
  /** A session missed is still dropped when its access cookie runs out: no full reads. */
  private readonly revocations: RevocationCursor;

  constructor(
    private readonly store: Store,
    private readonly pepper: Buffer,
    readonly settings: SessionSettings,
    /**
     * A session signed in by a token lasts while that token and its creators do, and is held to
     * their limits and budgets as a token minted by them would be.
     */
    private readonly creators: CreatorLineage,
    private readonly now: () => number = Date.now,
  ) {
    this.revocations = new RevocationCursor(now, false);
  }

  async mintCode(
    grant: SessionGrant,
    creator: TokenRecord | null,
  ): Promise<{ code: string; expiresIn: number }> {
    const secret = newSecret();
    await this.store.sessions.insertCode({
      hash: hashSecret(this.pepper, 'code', secret).toString('hex'),
      grant,
      createdBy: creator?.id ?? null,
      expiresAt: this.now() + CODE_TTL_MS,
    });
    return { code: formatCode(secret), expiresIn: CODE_TTL_MS / 1000 };
  }

  /** Exchanges a login code (once) for a new session; undefined for an unknown, used or expired code. */
  async login(code: string): Promise<Issued | undefined> {
    const secret = parseCode(code);
    if (secret === undefined) return undefined;
    const hash = hashSecret(this.pepper, 'code', secret).toString('hex');
    const record = await this.store.sessions.takeCode(hash, this.now());
    if (!record) return undefined;
    const lineage = await this.lineageOf(record.createdBy);
    // Its token was revoked after minting the code (the store drops such codes, unless the
    // revocation ran while this one was being minted).
    if (!lineage) return undefined;
    const issued = await this.start(record.grant, record.createdBy, false, lineage);
    // A revocation that committed while the session was being created missed it: looked at again
    // once the session is stored, so that either the revocation or this finds it.
    if (record.createdBy !== null && !(await this.creators(record.createdBy))) {
      await this.revoke(issued.session.id, 'token_revoked');
      return undefined;
    }
    return issued;
  }

  /** A guest session: the configured grant, limited per client address. */
  guest(grant: SessionGrant): Promise<Issued> {
    return this.start(grant, null, true, []);
  }

  /** Checks a session cookie; a Promise only when the session is not cached (one store read). */
  verify(cookie: string, ip: string): SessionCheck | Promise<SessionCheck> {
    const parsed = parseSessionCookie(cookie);
    if (!parsed) return { failure: 'invalid' };
    const cached = this.cache.get(parsed.id);
    if (cached && this.matches(cached, parsed.secret)) return this.judge(cached, ip);
    const missedUntil = this.misses.get(parsed.id);
    if (missedUntil !== undefined && missedUntil > this.now()) return { failure: 'invalid' };
    // Not cached, or rotated by another instance since: read the store once.
    return this.store.sessions.get(parsed.id).then(async (session) => {
      const digest = hashSecret(this.pepper, 'session', parsed.secret);
      if (!session) this.missed(parsed.id);
      if (!session || !sameHash(digest, session.accessHash)) return { failure: 'invalid' };
      if (session.revokedAt !== null) return { failure: 'revoked' };
      const lineage = await this.liveCreators(session);
      if (!lineage) return { failure: 'revoked' };
      const remembered = this.remember(session, lineage);
      remembered.proven = new SecretString(parsed.secret);
      return this.judge(remembered, ip);
    });
  }

  /**
   * Rotates a refresh token presented from `ip`; a retired one presented after the grace ends the
   * whole login.
   */
  async refresh(cookie: string, ip: string): Promise<RefreshResult> {
    const parsed = parseRefreshCookie(cookie);
    if (!parsed) return { failure: 'invalid' };
    const [session, token] = await Promise.all([
      this.store.sessions.get(parsed.id),
      this.store.sessions.refreshToken(parsed.id, parsed.generation),
    ]);
    const proven = sameHash(hashSecret(this.pepper, 'refresh', parsed.secret), token?.hash);
    if (!session || !token || !proven || session.revokedAt !== null) return { failure: 'invalid' };
    if (session.guest && !this.settings.guest) return { failure: 'invalid' };
    if (this.over(session)) return { failure: 'expired', session };
    if (token.retiredAt !== null && !this.withinGrace(token.retiredAt)) {
      await this.revoke(session.id, 'refresh_reused');
      return { failure: 'reused', session };
    }
    const lineage = await this.liveCreators(session);
    if (!lineage) return { failure: 'invalid' };
    return this.rotate(session, parsed, addressSubject(ip), lineage);
  }

  /**
   * Whether a token retired at `retiredAt` may still be presented: strictly less than the grace
   * away from it (with no grace, a replay in the rotation's own millisecond is a replay too). Before
   * it as well as after, as far: another instance whose clock is a little behind the one that
   * rotated sees a racing tab's refresh a little before the rotation. Not further: a clock stepped
   * back past the rotation counted every replay since as within the grace, for the size of the step.
   */
  private withinGrace(retiredAt: number): boolean {
    const elapsed = this.now() - retiredAt;
    return elapsed > -this.settings.graceMs && elapsed < this.settings.graceMs;
  }

  /** Ends the session a cookie proves, if any; returns it. */
  async logout(sessionCookie?: string, refreshCookie?: string): Promise<SessionRecord | undefined> {
    const session = await this.prove(sessionCookie, refreshCookie);
    if (!session || session.revokedAt !== null) return undefined;
    await this.revoke(session.id, 'logout');
    return session;
  }

  /** Revokes at once on this instance; others drop it at their next `syncRevocations`. */
  async revoke(id: string, reason: string): Promise<boolean> {
    const revoked = await this.store.sessions.revoke(id, this.now(), reason);
    this.cache.delete(id);
    return revoked;
  }

  async revokeUser(userId: string, reason: string): Promise<string[]> {
    const ids = await this.store.sessions.revokeUser(userId, this.now(), reason);
    for (const id of ids) this.cache.delete(id);
    return ids;
  }

  /**
   * Revokes every guest session: what turning guests off does, without turning them off. Returns
   * how many; others drop theirs at their next `syncRevocations`.
   */
  async revokeGuests(reason: string): Promise<number> {
    const count = await this.store.sessions.revokeGuests(this.now(), reason);
    for (const [id, { session }] of this.cache) if (session.guest) this.cache.delete(id);
    return count;
  }

  /**
   * Drops cached sessions signed in by these tokens or below them: the store revoked them with the
   * tokens (`TokenStore.revoke`), and other instances drop them at their next sync.
   */
  forgetSignedInBy(tokenIds: readonly string[]): void {
    forgetMintedUnder(this.cache, tokenIds);
  }

  /** Drops sessions revoked (by any instance) since the last call. */
  async syncRevocations(): Promise<void> {
    const ids = await this.revocations.read((since) => this.store.sessions.revokedSince(since));
    for (const id of ids) this.cache.delete(id);
  }

  /**
   * Lets go of what can no longer be used: cached sessions whose cookie has expired (a refresh
   * caches the session again), and from the store, sessions and login codes past their end.
   */
  async sweep(): Promise<void> {
    const now = this.now();
    for (const [id, { session }] of this.cache) {
      if (session.accessExpiresAt <= now || this.over(session)) this.cache.delete(id);
    }
    // A login idle past refreshIdle can never be refreshed: kept to its absolute end (30 days by
    // default), every guest login would stay stored that long.
    await this.store.sessions.prune(now, now - this.settings.refreshIdleMs);
  }

  /** Sweeps every minute until the timer is cleared; a failed sweep is reported and tried again. */
  keepSwept(onError: (error: unknown) => void): NodeJS.Timeout {
    return setInterval(() => void this.sweep().catch(onError), SWEEP_EVERY_MS).unref();
  }

  /** Sessions held in memory. */
  get cached(): number {
    return this.cache.size;
  }

  /** The session's creators (see `CreatorLineage`), revoking the session in the store when one is gone. */
  private async liveCreators(session: SessionRecord): Promise<readonly TokenRecord[] | undefined> {
    const lineage = await this.lineageOf(session.createdBy);
    if (!lineage) await this.revoke(session.id, 'token_revoked');
    return lineage;
  }

  private async lineageOf(createdBy: string | null): Promise<readonly TokenRecord[] | undefined> {
    return createdBy === null ? [] : this.creators(createdBy);
  }

  private async start(
    grant: SessionGrant,
    createdBy: string | null,
    guest: boolean,
    lineage: readonly TokenRecord[],
  ): Promise<Issued> {
    const now = this.now();
    const access = newSecret();
    const refresh = newSecret();
    const session: SessionRecord = {
      id: newSessionId(),
      userId: grant.userId,
      guest,
      grant,
      createdBy,
      createdAt: now,
      expiresAt: now + Math.min(grant.lifetimeMs, this.settings.refreshTtlMs),
      refreshedAt: now,
      accessHash: hashSecret(this.pepper, 'session', access).toString('hex'),
      accessExpiresAt: now + this.settings.sessionTtlMs,
      generation: 1,
      revokedAt: null,
      revokedReason: null,
    };
    await this.store.sessions.create(session, hashSecret(this.pepper, 'refresh', refresh).toString('hex'));
    return this.issue(session, { access, refresh }, lineage);
  }

  /** The cookies of `session`'s generation, its access secret remembered as proven. */
  private issue(
    session: SessionRecord,
    secrets: { access: string; refresh: string },
    lineage: readonly TokenRecord[],
  ): Issued {
    this.remember(session, lineage).proven = new SecretString(secrets.access);
    return {
      session,
      sessionCookie: formatSessionCookie(session.id, secrets.access),
      refreshCookie: formatRefreshCookie(session.id, session.generation, secrets.refresh),
    };
  }

  /**
   * Moves a login on from the generation presented. A generation's secrets derive from the one it
   * replaces and the address presenting it, so a token replaced within the grace, or a tab that
   * lost the race to rotate, from the same address walks the chain to the live generation and is
   * handed its cookies as they are: the browser's jar ends on the live generation whichever answer
   * it takes last. From another address the walk finds other secrets and rotates a branch of its
   * own, as every replay within the grace once did.
   */
  private async rotate(
    first: SessionRecord,
    presented: { generation: number; secret: string },
    address: string,
    lineage: readonly TokenRecord[],
  ): Promise<RefreshResult> {
    let session: SessionRecord | undefined = first;
    for (let attempt = 0; attempt < MAX_ROTATION_TRIES && session; attempt++) {
      if (session.revokedAt !== null) return { failure: 'invalid' };
      const behind = session.generation - presented.generation;
      if (behind < 0 || behind > MAX_GENERATIONS_BEHIND) return { failure: 'invalid' };
      let secret = presented.secret;
      let live: { refresh: string; access: string } | undefined;
      for (let step = 0; step < behind; step++) {
        live = successorSecrets(this.pepper, secret, address);
        secret = live.refresh;
      }
      if (live && (await this.holdsLive(session, live))) return this.issue(session, live, lineage);
      const now = this.now();
      const successor = successorSecrets(this.pepper, secret, address);
      const next = {
        from: session.generation,
        generation: session.generation + 1,
        refreshHash: hashSecret(this.pepper, 'refresh', successor.refresh).toString('hex'),
        accessHash: hashSecret(this.pepper, 'session', successor.access).toString('hex'),
        accessExpiresAt: now + this.settings.sessionTtlMs,
        at: now,
      };
      if (await this.store.sessions.rotate(session.id, next))
        return this.issue({ ...session, ...next, refreshedAt: now }, successor, lineage);
      // Another tab (or instance) rotated first: follow the chain to where it left the login.
      session = await this.store.sessions.get(session.id);
    }
    return { failure: 'invalid' };
  }

  /** Whether the live generation's cookies are the ones derived along the presented chain. */
  private async holdsLive(
    session: SessionRecord,
    live: { refresh: string; access: string },
  ): Promise<boolean> {
    const token = await this.store.sessions.refreshToken(session.id, session.generation);
    return (
      token?.retiredAt === null &&
      sameHash(hashSecret(this.pepper, 'refresh', live.refresh), token.hash) &&
      sameHash(hashSecret(this.pepper, 'session', live.access), session.accessHash)
    );
  }

  /** The session a session cookie or refresh token proves to be the caller's. */
  private async prove(sessionCookie?: string, refreshCookie?: string): Promise<SessionRecord | undefined> {
    const bySession = sessionCookie && parseSessionCookie(sessionCookie);
    if (bySession) {
      const session = await this.store.sessions.get(bySession.id);
      if (sameHash(hashSecret(this.pepper, 'session', bySession.secret), session?.accessHash)) return session;
    }
    const byRefresh = refreshCookie && parseRefreshCookie(refreshCookie);
    if (byRefresh) {
      const token = await this.store.sessions.refreshToken(byRefresh.id, byRefresh.generation);
      if (sameHash(hashSecret(this.pepper, 'refresh', byRefresh.secret), token?.hash))
        return this.store.sessions.get(byRefresh.id);
    }
    return undefined;
  }

  private over(session: SessionRecord): boolean {
    const now = this.now();
    return session.expiresAt <= now || session.refreshedAt + this.settings.refreshIdleMs <= now;
  }

  /** Whether `secret` is the cached session's; both are of one fixed length (`parseSessionCookie`). */
  private matches(cached: Cached, secret: string): boolean {
    const { proven } = cached;
    if (proven && timingSafeEqual(Buffer.from(secret), Buffer.from(proven.reveal()))) return true;
    if (!timingSafeEqual(hashSecret(this.pepper, 'session', secret), cached.hash)) return false;
    cached.proven = new SecretString(secret);
    return true;
  }

  private judge(cached: Cached, ip: string): SessionCheck {
    const { session } = cached;
    const now = this.now();
    if (session.accessExpiresAt <= now || session.expiresAt <= now) return { failure: 'expired' };
    if (!session.guest) return { principal: cached.principal, session };
    const { guest } = this.settings;
    if (!guest) return { failure: 'revoked' };
    return { principal: this.guests.principal(session, ip, guest), session };
  }

  private remember(session: SessionRecord, lineage: readonly TokenRecord[]): Cached {
    const cached: Cached = {
      session,
      hash: Buffer.from(session.accessHash, 'hex'),
      principal: sessionPrincipal(session, lineage),
    };
    if (session.revokedAt === null) {
      if (this.cache.size >= MAX_CACHED && !this.cache.has(session.id))
        this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(session.id, cached);
    }
    this.misses.delete(session.id);
    return cached;
  }

  private missed(id: string): void {
    if (this.misses.size >= MAX_NEGATIVE) this.misses.delete(this.misses.keys().next().value!);
    this.misses.set(id, this.now() + NEGATIVE_TTL_MS);
  }
}
