import { createHash, randomBytes } from 'node:crypto';
import { type OfflineContext, print } from './context.js';
import type { CliIO } from './io.js';

/**
 * `keyward init`: the data directory, the store, the master key file (unless one is given in the
 * environment) and a new admin key. The admin key is printed once; only its digest is kept.
 */
export async function initCommand(
  ctx: OfflineContext,
  io: CliIO,
  json: boolean | undefined,
): Promise<number> {
  const adminKey = `kwa_${randomBytes(32).toString('base64url')}`;
  const digest = createHash('sha256').update(adminKey).digest('hex');
  const current = await ctx.store.meta.get('admin_key_hashes');
  const hashes = current ? (JSON.parse(current) as string[]) : [];
  await ctx.store.meta.set('admin_key_hashes', JSON.stringify([...hashes, digest]));
  const result = {
    adminKey,
    /** Admin keys that open this store now, this one included: a re-run adds, it does not replace. */
    adminKeys: hashes.length + 1,
    dataDir: ctx.paths.dataDir,
    database: ctx.paths.database,
    masterKey: ctx.master.origin === 'file' ? ctx.paths.masterKeyFile : ctx.master.origin,
  };
  print(
    io,
    json,
    result,
    [
      `data directory: ${result.dataDir}`,
      `store:          ${result.database}`,
      `master key:     ${result.masterKey}${ctx.master.origin === 'file' ? ' (mode 0600; back it up: without it the stored keys are lost)' : ''}`,
      '',
      `admin key (shown once; send it as "Authorization: Bearer <key>" to the admin listener):`,
      adminKey,
      ...(hashes.length > 0
        ? [
            '',
            `note: this data directory already had ${hashes.length} admin key(s); they still work, and this is one more.`,
          ]
        : []),
    ].join('\n'),
  );
  return 0;
}
