import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, verifyChain } from '../../src/audit/index.js';
import { useCutStore } from '../support/commit-cutter.js';
import { hasPostgres } from '../support/postgres.js';
import { usePostgres } from '../support/use-postgres.js';

/**
 * When the connection went away after Postgres committed an audit batch but before its answer
 * arrived, the batch was taken as failed and appended again: every record of it was in the chain
 * twice, each copy sealed and linked, so that verification could not tell.
 */
describe.skipIf(!hasPostgres())('an audit batch whose commit answer is lost', () => {
  const postgres = usePostgres();
  const key = randomBytes(32);
  const cut = useCutStore(() => postgres.database());

  const open = (errors: Error[]) =>
    new AuditLog({ store: cut.store.audit, key, redact: (text) => text, onError: (e) => errors.push(e) });
  const actorsOf = async (actor: string) =>
    (await cut.store.audit.list({ actor })).map(({ type, data }) => ({ type, data }));

  it('is appended once: the log learns that it was committed', async () => {
    const errors: Error[] = [];
    const log = open(errors);
    log.record('token.created', 'after', { n: 1 });
    log.record('token.revoked', 'after', { n: 2 });
    cut.cutter.arm('after');
    await log.flush();
    await log.close();
    expect(errors).toEqual([]);
    expect(await actorsOf('after')).toEqual([
      { type: 'token.created', data: { n: 1 } },
      { type: 'token.revoked', data: { n: 2 } },
    ]);
    expect(await verifyChain(cut.store.audit, key)).toMatchObject({ ok: true });
  });

  it('is kept and appended again when the COMMIT never reached Postgres', async () => {
    const errors: Error[] = [];
    const log = open(errors);
    log.record('token.created', 'before', { n: 1 });
    cut.cutter.arm('before');
    await log.flush();
    expect(errors).toHaveLength(1);
    expect(await actorsOf('before')).toEqual([]);
    await log.close();
    expect(await actorsOf('before')).toEqual([{ type: 'token.created', data: { n: 1 } }]);
    expect(await verifyChain(cut.store.audit, key)).toMatchObject({ ok: true });
  });
});
