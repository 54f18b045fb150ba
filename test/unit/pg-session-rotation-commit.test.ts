import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenService } from '../../src/auth/tokens.js';
import { type Issued, SessionService } from '../../src/sessions/session-service.js';
import { useCutStore } from '../support/commit-cutter.js';
import { hasPostgres } from '../support/postgres.js';
import { sessionGrant } from '../support/records.js';
import { usePostgres } from '../support/use-postgres.js';

const MINUTE = 60_000;
const DAY = 86_400_000;
/** The browser's address. */
const HOME = '203.0.113.7';

/**
 * When the connection went away after Postgres committed a refresh-token rotation but before its
 * answer arrived, the refresh failed: the browser kept the token the rotation had retired, and its
 * next refresh, past the reuse grace (the client refreshes when its session cookie runs out),
 * looked like a stolen token replayed and revoked the whole login.
 */
describe.skipIf(!hasPostgres())('a refresh-token rotation whose commit answer is lost', () => {
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

  const loggedIn = async (): Promise<Issued> => {
    const { code } = await service.mintCode(sessionGrant({ lifetimeMs: 30 * DAY }), null);
    return (await service.login(code))!;
  };

  it('hands out the new generation: the service learns that the rotation committed', async () => {
    const issued = await loggedIn();
    cut.cutter.arm('after');
    const rotated = await service.refresh(issued.refreshCookie, HOME).catch(() => undefined);
    // The browser's next refresh comes when its session cookie runs out, past the reuse grace,
    // with the refresh cookie it holds: the new one if it was handed out, else the one it sent.
    clock.now += 15 * MINUTE;
    const held = rotated && 'refreshCookie' in rotated ? rotated.refreshCookie : issued.refreshCookie;
    expect(await service.refresh(held, HOME)).toMatchObject({ session: { generation: 3 } });
    expect((await cut.store.sessions.get(issued.session.id))?.revokedAt).toBeNull();
    // The generation retired by the rotation is spent: presented again, it is a replay.
    expect(await service.refresh(issued.refreshCookie, HOME)).toMatchObject({ failure: 'reused' });
  });

  it('keeps the presented generation when the COMMIT never reached Postgres', async () => {
    const issued = await loggedIn();
    cut.cutter.arm('before');
    await expect(service.refresh(issued.refreshCookie, HOME)).rejects.toThrow();
    clock.now += 15 * MINUTE;
    expect(await service.refresh(issued.refreshCookie, HOME)).toMatchObject({ session: { generation: 2 } });
    expect((await cut.store.sessions.get(issued.session.id))?.revokedAt).toBeNull();
  });
});
