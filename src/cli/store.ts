import { verifyStoredChain } from '../audit/index.js';
import { postgresLocation, storeLocation } from '../gateway/index.js';
import { copySqliteToPostgres, openPostgresStore } from '../store/index.js';
import { CliError, type OfflineContext, type OfflineOptions, openConfiguredStore, print } from './context.js';
import type { CliIO } from './io.js';

/** `keyward migrate`: brings the configured store's schema up to this Keyward's, and says from where. */
export async function migrateCommand(options: OfflineOptions, io: CliIO, json?: boolean): Promise<number> {
  const { config, paths, store } = await openConfiguredStore(options, io);
  const where = storeLocation(config, paths);
  await store.close();
  const { from, to } = store.schema;
  const text =
    from === to
      ? `store ${where} is at schema version ${to}: nothing to do`
      : `store ${where} migrated from schema version ${from} to ${to}`;
  print(io, json, { store: where, from, to }, text);
  return 0;
}

/**
 * `keyward store copy --to postgres://…`: everything in the SQLite store into an empty Postgres
 * database, then the copied audit chain verified there with the audit key.
 */
export async function storeCopyCommand(
  to: string | undefined,
  ctx: OfflineContext,
  io: CliIO,
  json?: boolean,
): Promise<number> {
  if (ctx.store.kind !== 'sqlite')
    throw new CliError(
      'keyward store copy reads a SQLite store; this configuration already uses Postgres',
      2,
    );
  let url: URL;
  try {
    url = new URL(to ?? '');
  } catch {
    throw new CliError('give the target as --to postgres://USER@HOST:PORT/DATABASE', 2);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')
    throw new CliError('give the target as --to postgres://USER@HOST:PORT/DATABASE', 2);
  if (url.password)
    throw new CliError(
      'put the password in PGPASSWORD (or ~/.pgpass), not in --to: arguments are visible to every user of the machine',
      2,
    );
  const target = postgresLocation(url);
  // The gateway's own store stays open read-write; flush what the CLI queued before reading it.
  await ctx.audit.flush();
  let rows: Record<string, number>;
  try {
    ({ rows } = await copySqliteToPostgres(ctx.paths.database, { url: url.href }));
  } catch (error) {
    // Our refusal, or the driver's own message, which names hosts but never a password.
    throw new CliError(`cannot copy to ${target}: ${(error as Error).message}`);
  }
  const copied = await openPostgresStore({ url: url.href, poolSize: 1, ssl: false });
  try {
    const chain = await verifyStoredChain(copied, ctx.auditKey);
    const total = Object.values(rows).reduce((sum, n) => sum + n, 0);
    const verdict = chain.ok
      ? `the audit chain verifies there (${chain.checked} record(s))`
      : `the audit chain does NOT verify there: seq ${chain.problem.seq} (${chain.problem.kind})`;
    print(
      io,
      json,
      { to: target, rows, audit: chain },
      `copied ${total} row(s) from sqlite ${ctx.paths.database} to ${target}; ${verdict}. ` +
        'Set storage.postgres.url and start the gateways with the same master key.',
    );
    return chain.ok ? 0 : 1;
  } finally {
    await copied.close();
  }
}
