import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { TokenService } from '../../src/auth/tokens.js';
import { type Issued, SessionService } from '../../src/sessions/session-service.js';
import { openSqliteStore } from '../../src/store/index.js';
import { sessionGrant } from '../support/records.js';

const MINUTE = 60_000;
/** The browser's address: its tabs refresh from it. */
const HOME = '203.0.113.7';
const DAY = 86_400_000;

const grant = sessionGrant({ lifetimeMs: 30 * DAY });

/** A service over a real SQLite store, with a clock the test moves. */
function setup(graceMs = 10_000) {
  const path = join(mkdtempSync(join(tmpdir(), 'keyward-sessions-')), 'keyward.db');
  const store = openSqliteStore(path);
  const clock = { now: Date.parse('2026-01-01T00:00:00Z') };
  const pepper = randomBytes(32);
  const tokens = new TokenService(store, pepper, () => clock.now);
  /** Another instance over the same store: nothing cached. */
  const instance = () => {
    const sessions = new SessionService(
      store,
      pepper,
      { sessionTtlMs: 15 * MINUTE, refreshTtlMs: 30 * DAY, refreshIdleMs: 7 * DAY, graceMs },
      (id) => tokens.liveLineage(id),
      () => clock.now,
    );
    tokens.onRevoked((ids) => sessions.forgetSignedInBy(ids));
    return sessions;
  };
  const service = instance();
  return { store, service, clock, path, tokens, instance };
}

async function loggedIn(service: SessionService): Promise<Issued> {
  const { code } = await service.mintCode(grant, null);
  const issued = await service.login(code);
  expect(issued).toBeDefined();
  return issued!;
}

describe('session service', () => {
  it('refuses a code after its 60 seconds', async () => {
    const { service, clock } = setup();
    const { code } = await service.mintCode(grant, null);
    clock.now += 60_001;
    expect(await service.login(code)).toBeUndefined();
  });

  it('stores keyed hashes only: no code, cookie or refresh secret in the database file', async () => {
    const { service, store, path } = setup();
    const { code } = await service.mintCode(grant, null);
    const second = await service.mintCode(grant, null);
    const issued = (await service.login(code))!;
    // Closing checkpoints the write-ahead log into the one file.
    await store.close();
    const bytes = readFileSync(path).toString('latin1');
    expect(bytes).toContain('alice');
    for (const secret of [
      second.code.slice(4),
      issued.sessionCookie.split('.')[1]!,
      issued.refreshCookie.split('.')[2]!,
    ]) {
      expect(bytes).not.toContain(secret);
    }
  });

  it('expires the session cookie after its lifetime; a refresh renews it', async () => {
    const { service, clock } = setup();
    const issued = await loggedIn(service);
    expect(await service.verify(issued.sessionCookie, '127.0.0.1')).toHaveProperty('principal');
    clock.now += 15 * MINUTE;
    expect(await service.verify(issued.sessionCookie, '127.0.0.1')).toEqual({ failure: 'expired' });
    const renewed = await service.refresh(issued.refreshCookie, HOME);
    expect(renewed).toHaveProperty('sessionCookie');
    const check = await service.verify((renewed as Issued).sessionCookie, '127.0.0.1');
    expect(check).toHaveProperty('principal.userId', 'alice');
  });

  it('ends a login left idle past refreshIdle, and any login at refreshTtl', async () => {
    const idle = setup();
    const a = await loggedIn(idle.service);
    idle.clock.now += 7 * DAY;
    expect(await idle.service.refresh(a.refreshCookie, HOME)).toMatchObject({ failure: 'expired' });

    const busy = setup();
    let current = await loggedIn(busy.service);
    for (let day = 0; day < 29; day++) {
      busy.clock.now += DAY;
      current = (await busy.service.refresh(current.refreshCookie, HOME)) as Issued;
      expect(current).toHaveProperty('refreshCookie');
    }
    busy.clock.now += DAY;
    expect(await busy.service.refresh(current.refreshCookie, HOME)).toMatchObject({ failure: 'expired' });
  });

  it("hands a second tab refreshing with the same token within the grace the first one's cookies, and ends the family on a replay after it", async () => {
    const { service, clock } = setup(10_000);
    const issued = await loggedIn(service);
    const tabA = (await service.refresh(issued.refreshCookie, HOME)) as Issued;
    clock.now += 2_000;
    const tabB = (await service.refresh(issued.refreshCookie, HOME)) as Issued;
    // Whichever answer the browser's jar takes last, it holds the live generation.
    expect(tabB.refreshCookie).toBe(tabA.refreshCookie);
    expect(tabB.sessionCookie).toBe(tabA.sessionCookie);
    expect(await service.verify(tabB.sessionCookie, '127.0.0.1')).toHaveProperty('principal');

    clock.now += 10_001;
    const later = (await service.refresh(tabA.refreshCookie, HOME)) as Issued;
    expect(later).toHaveProperty('sessionCookie');
    expect(await service.refresh(issued.refreshCookie, HOME)).toMatchObject({ failure: 'reused' });
    expect(await service.verify(later.sessionCookie, '127.0.0.1')).not.toHaveProperty('principal');
    expect(await service.refresh(later.refreshCookie, HOME)).toMatchObject({ failure: 'invalid' });
  });

  it('ends the family on a replay after a clock stepped back past the rotation, as after the grace', async () => {
    const { service, clock } = setup(10_000);
    const issued = await loggedIn(service);
    const rotated = (await service.refresh(issued.refreshCookie, HOME)) as Issued;
    // A racing tab on an instance whose clock is 3 s behind the rotating one's: still within the grace.
    clock.now -= 3_000;
    expect(await service.refresh(issued.refreshCookie, HOME)).toHaveProperty('sessionCookie');
    clock.now += 15_000;
    // An hour back: the retired token's stamp is now in the future, which is no time within the grace.
    clock.now -= 3_600_000;
    expect(await service.refresh(issued.refreshCookie, HOME)).toMatchObject({ failure: 'reused' });
    expect(await service.verify(rotated.sessionCookie, '127.0.0.1')).not.toHaveProperty('principal');
  });

  it('gives tabs racing to rotate one token the same cookies, and a replay within the grace the live ones', async () => {
    const { service, clock } = setup(10_000);
    const issued = await loggedIn(service);
    const [first, second] = (await Promise.all([
      service.refresh(issued.refreshCookie, HOME),
      service.refresh(issued.refreshCookie, HOME),
    ])) as Issued[];
    expect(second!.refreshCookie).toBe(first!.refreshCookie);
    expect(second!.sessionCookie).toBe(first!.sessionCookie);

    clock.now += 1_000;
    const third = (await service.refresh(first!.refreshCookie, HOME)) as Issued;
    clock.now += 1_000;
    const replay = (await service.refresh(issued.refreshCookie, HOME)) as Issued;
    expect(replay.refreshCookie).toBe(third.refreshCookie);
    expect(replay.session.generation).toBe(3);
    expect(await service.verify(replay.sessionCookie, '127.0.0.1')).toHaveProperty(
      'principal.userId',
      'alice',
    );
  });

  it('branches a copy presented from another address within the grace, so the next replay after it ends the login', async () => {
    const { service, clock } = setup(10_000);
    const issued = await loggedIn(service);
    const victim = (await service.refresh(issued.refreshCookie, HOME)) as Issued;
    clock.now += 1_000;
    // A stolen copy, presented in time from elsewhere, is not handed the victim's cookies.
    const thief = (await service.refresh(issued.refreshCookie, '198.51.100.9')) as Issued;
    expect(thief.refreshCookie).not.toBe(victim.refreshCookie);
    expect(thief.sessionCookie).not.toBe(victim.sessionCookie);
    clock.now += 10_001;
    expect(await service.refresh(victim.refreshCookie, HOME)).toMatchObject({ failure: 'reused' });
    expect(await service.refresh(thief.refreshCookie, '198.51.100.9')).toMatchObject({ failure: 'invalid' });
  });

  it('counts an IPv6 browser by its /64: its tabs may leave from different addresses', async () => {
    const { service } = setup(10_000);
    const issued = await loggedIn(service);
    const tabA = (await service.refresh(issued.refreshCookie, '2001:db8:1:2::a')) as Issued;
    const tabB = (await service.refresh(issued.refreshCookie, '2001:db8:1:2:ffff::b')) as Issued;
    expect(tabB.refreshCookie).toBe(tabA.refreshCookie);
  });

  it('without a grace, ends the family on a replay even in the same millisecond as the rotation', async () => {
    const { service } = setup(0);
    const issued = await loggedIn(service);
    // The clock does not move: the replay comes 0 ms after the rotation, which is not "within" 0 ms.
    expect(await service.refresh(issued.refreshCookie, HOME)).toHaveProperty('sessionCookie');
    expect(await service.refresh(issued.refreshCookie, HOME)).toMatchObject({ failure: 'reused' });
  });

  it('ends a session when the token that signed it in is revoked, on an instance that never cached it too', async () => {
    const { service, tokens, instance, path } = setup();
    const { record: app } = await tokens.create({ name: 'app', scopes: ['sessions', 'chat'] }, null);
    const { code } = await service.mintCode(grant, app);
    const issued = (await service.login(code))!;
    const cookie = issued.sessionCookie;
    const signedIn = await service.verify(cookie, HOME);
    expect('principal' in signedIn && signedIn.principal.lineage?.map((r) => r.id)).toEqual([app.id]);
    const other = instance();
    await tokens.revoke(app.id);
    expect(await other.verify(cookie, HOME)).toEqual({ failure: 'revoked' });
    expect(await service.verify(cookie, HOME)).toEqual({ failure: 'revoked' });
    expect(await other.refresh(issued.refreshCookie, HOME)).toEqual({ failure: 'invalid' });

    // What the revocation's statement missed, minted or signed in while it ran, is refused by
    // its creator: a code, and a session the store still holds live.
    const { code: late } = await service.mintCode(grant, app);
    expect(await service.login(late)).toBeUndefined();
    const db = new Database(path);
    db.prepare('UPDATE sessions SET revoked_at = NULL, revoked_reason = NULL').run();
    expect(await instance().verify(cookie, HOME)).toEqual({ failure: 'revoked' });
    expect(await instance().refresh(issued.refreshCookie, HOME)).toEqual({ failure: 'invalid' });
    // And revoked in the store once found.
    expect(db.prepare('SELECT revoked_reason FROM sessions').all()).toEqual([
      { revoked_reason: 'token_revoked' },
    ]);
    db.close();
  });

  it('refuses a login whose token was revoked while the session was being created', async () => {
    const { store, tokens } = setup();
    const { record: app } = await tokens.create({ name: 'app', scopes: ['sessions', 'chat'] }, null);
    let lookups = 0;
    // The revocation commits between the login's first look at the token and the session's insert.
    const racing = new SessionService(
      store,
      randomBytes(32),
      { sessionTtlMs: 15 * MINUTE, refreshTtlMs: 30 * DAY, refreshIdleMs: 7 * DAY, graceMs: 0 },
      async (id) => {
        if (++lookups === 1) return tokens.liveLineage(id);
        await tokens.revoke(id);
        return tokens.liveLineage(id);
      },
    );
    const { code } = await racing.mintCode(grant, app);
    expect(await racing.login(code)).toBeUndefined();
    const [session] = await store.sessions.list({ includeRevoked: true });
    expect(session).toMatchObject({ createdBy: app.id, revokedReason: 'token_revoked' });
  });

  it('gives every login a new session id', async () => {
    const { service } = setup();
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) ids.add((await loggedIn(service)).session.id);
    expect(ids.size).toBe(5);
  });

  it('lets go of what can no longer be used: expired cookies from memory, ended sessions and codes from the store', async () => {
    const { service, store, clock, path } = setup();
    const reader = new Database(path, { readonly: true });
    const codes = () => (reader.prepare('SELECT count(*) AS n FROM login_codes').get() as { n: number }).n;
    const guests: Issued[] = [];
    for (let i = 0; i < 3; i++) guests.push(await service.guest({ ...grant, userId: null, lifetimeMs: DAY }));
    const member = await loggedIn(service);
    await service.mintCode(grant, null);
    expect(service.cached).toBe(4);
    expect(codes()).toBe(1);

    // Live cookies stay; after their 15 minutes they leave memory.
    await service.sweep();
    expect(service.cached).toBe(4);
    clock.now += 15 * MINUTE;
    await service.sweep();
    expect(service.cached).toBe(0);
    // Still refreshable: the store keeps them until they end, and a refresh caches the session again.
    const renewed = (await service.refresh(member.refreshCookie, HOME)) as Issued;
    expect(renewed).toHaveProperty('sessionCookie');
    expect(service.cached).toBe(1);
    expect(await store.sessions.get(guests[0]!.session.id)).toBeDefined();

    // Past the guests' one-day end they, their refresh tokens and the unused code leave the store.
    clock.now += DAY;
    await service.sweep();
    for (const guest of guests) {
      expect(await store.sessions.get(guest.session.id)).toBeUndefined();
      expect(await store.sessions.refreshToken(guest.session.id, 1)).toBeUndefined();
    }
    expect(await store.sessions.get(member.session.id)).toBeDefined();
    expect(codes()).toBe(0);

    // A login not refreshed for refreshIdle (7 days) can never be refreshed: it leaves the store
    // then, not at its 30-day end.
    clock.now += 7 * DAY;
    await service.sweep();
    expect(await store.sessions.get(member.session.id)).toBeUndefined();
    expect(await service.refresh(renewed.refreshCookie, HOME)).toMatchObject({ failure: 'invalid' });
    reader.close();
  });
});
