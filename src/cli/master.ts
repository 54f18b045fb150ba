import { renameSync, writeFileSync } from 'node:fs';
import {
  decodeMasterKey,
  deriveMasterKey,
  generateMasterKey,
  type MasterKey,
  rewrapSealedSecrets,
  StoredKeys,
} from '../keys/index.js';
import { CliError, type OfflineContext, print } from './context.js';
import { rewrapConversations } from './conversations.js';
import type { CliIO } from './io.js';

/** Writes a key file atomically: a reader sees the old file or the new one, never half of one. */
function writeKeyFile(path: string, key: MasterKey): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${key.key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  renameSync(temporary, path);
}

/**
 * `keyward master rotate`: re-seals every stored record under a new master key in one transaction.
 * With a key file, the new key replaces it (the old one is kept beside it as `.previous` until
 * the operator deletes it) and a running gateway picks it up with the rewrapped records. With a
 * key or passphrase from the environment, the new one comes from KEYWARD_NEW_MASTER_KEY or
 * KEYWARD_NEW_MASTER_PASSPHRASE, and the gateway needs it at its next start.
 */
export async function masterRotateCommand(
  ctx: OfflineContext,
  io: CliIO,
  json: boolean | undefined,
): Promise<number> {
  const current = ctx.master;
  let next: MasterKey;
  if (current.origin === 'file') {
    next = generateMasterKey();
  } else if (io.env.KEYWARD_NEW_MASTER_KEY) {
    next = decodeMasterKey(io.env.KEYWARD_NEW_MASTER_KEY, 'env', 'KEYWARD_NEW_MASTER_KEY');
  } else if (io.env.KEYWARD_NEW_MASTER_PASSPHRASE) {
    const salt = Buffer.from((await ctx.store.meta.get('master_salt')) ?? '', 'base64');
    next = deriveMasterKey(io.env.KEYWARD_NEW_MASTER_PASSPHRASE, salt);
  } else {
    throw new CliError(
      'the master key comes from the environment: give the new one in KEYWARD_NEW_MASTER_KEY or KEYWARD_NEW_MASTER_PASSPHRASE',
      2,
    );
  }
  if (next.id === current.id) throw new CliError('the new master key is the same as the current one', 2);

  const stored = new StoredKeys(ctx.store, () => next);
  const file = ctx.paths.masterKeyFile;
  if (current.origin === 'file') {
    // The new key is in place before any record needs it; if the rewrap fails, the old file returns.
    writeFileSync(`${file}.previous`, `${current.key.toString('base64')}\n`, { mode: 0o600 });
    writeKeyFile(file, next);
  }
  let rewrapped: number;
  let conversations: number;
  try {
    await rewrapSealedSecrets(ctx.store, [current], next);
    try {
      conversations = await rewrapConversations(ctx, current, next);
      try {
        rewrapped = await stored.rewrap([current], next);
      } catch (error) {
        await rewrapConversations(ctx, next, current);
        throw error;
      }
    } catch (error) {
      await rewrapSealedSecrets(ctx.store, [next], current);
      throw error;
    }
  } catch (error) {
    if (current.origin === 'file') writeKeyFile(file, current);
    throw new CliError(`rotation failed, nothing changed: ${(error as Error).message}`);
  }
  const inline = ctx.config.providers
    .filter((p) => p.keys && ('values' in p.keys || 'env' in p.keys))
    .map((p) => p.id);
  const result = { previousKeyId: current.id, keyId: next.id, rewrapped, conversations, reencrypt: inline };
  const lines = [
    `re-sealed ${rewrapped} stored key(s) and ${conversations} stored response(s) and conversation(s) under master key ${next.id} (was ${current.id})`,
    current.origin === 'file'
      ? `the new key is in ${file}; the old one is in ${file}.previous: delete it once backups hold the new one`
      : `set ${current.origin === 'env' ? 'KEYWARD_MASTER_KEY' : 'KEYWARD_MASTER_PASSPHRASE'} to the new value before the next start`,
  ];
  if (inline.length > 0) {
    lines.push(
      `enc: values outside the store are not changed; re-encrypt those of: ${inline.join(', ')} (keyward keys encrypt)`,
    );
  }
  print(io, json, result, lines.join('\n'));
  return 0;
}
