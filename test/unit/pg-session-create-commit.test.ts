import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { TokenService } from '../../src/auth/tokens.js';
import { SessionService } from '../../src/sessions/session-service.js';
import { useCutStore } from '../support/commit-cutter.js';
import { hasPostgres } from '../support/postgres.js';
import { sessionGrant } from '../support/records.js';
import { usePostgres } from '../support/use-postgres.js';

const MINUTE = 60_000;
const DAY = 86_400_000;
/** The browser's address. */
const HOME = '203.0.113.7';

/**
 * When the connection went away after Postgres committed a new login's session but before its
 * answer arrived, the login failed: the session was stored, and the login code it spent could not
 * be presented again, so the user was left signed out with a code that no longer worked.
 */
describe.skipIf(!hasPostgres())('a login whose session commit answer is lost', () => {
  const postgres = usePostgres();
  const clock = { now: Date.parse('2026-01-01T00:00:00Z') };
  const cut = useCutStore(() => postgres.database());
  let service: SessionService;

  beforeAll(async () => {
    const pepper = randomBytes(32);
    const tokens = new TokenService(cut.store, pepper, () => clock.now);
    service = new SessionService(
      cut.store,
      pepper,
      { sessionTtlMs: 15 * MINUTE, refreshTtlMs: 30 * DAY, refreshIdleMs: 7 * DAY, graceMs: 10_000 },
      (id) => tokens.liveLineage(id),
      () => clock.now,
    );
  }, 60_000);

  const mint = async (userId: string) =>
    (await service.mintCode(sessionGrant({ userId, lifetimeMs: 30 * DAY }), null)).code;

  it('signs the user in: the service learns that the session committed', async () => {
    const code = await mint('committed');
    cut.cutter.arm('after');
    const issued = await service.login(code);
    expect(issued).toBeDefined();
    expect(await cut.store.sessions.get(issued!.session.id)).toMatchObject({ revokedAt: null });
    expect(await service.verify(issued!.sessionCookie, HOME)).toMatchObject({
      session: { id: issued!.session.id },
    });
    expect(await service.refresh(issued!.refreshCookie, HOME)).toMatchObject({ session: { generation: 2 } });
  });

  it('fails the login and stores no session when the COMMIT never reached Postgres', async () => {
    const code = await mint('rolled-back');
    cut.cutter.arm('before');
    await expect(service.login(code)).rejects.toThrow();
    expect(await cut.store.sessions.list({ userId: 'rolled-back', includeRevoked: true })).toEqual([]);
  });
});
