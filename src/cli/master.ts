import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AUDIT_ACTORS, AUDIT_EVENTS, recordEvent } from '../audit/index.js';
import {
  decodeMasterKey,
  deriveMasterKey,
  generateMasterKey,
  type MasterKey,
  MasterKeyError,
  previousKeyFile,
  readPreviousMasterKey,
  rewrapSealedSecrets,
  StoredKeys,
} from '../keys/index.js';
import { writeKeyFile } from '../keys/master-key.js';
import { describeInstances, liveInstances } from '../limits/index.js';
import type { InstanceRecord } from '../store/index.js';
import {
  CliError,
  type OfflineContext,
  type OfflineOptions,
  openConfiguredStore,
  openSealed,
  print,
} from './context.js';
import { rewrapConversations } from './conversations.js';
import type { CliIO } from './io.js';
import { withRotationLock } from './rotation-lock.js';

/** Longer than a running gateway takes to see a store change (it polls every 250 ms) and re-read the key file. */
const SETTLE_MS = 1000;
/** Sweeps before giving up on records that keep arriving under the old key. */
const MAX_SWEEPS = 5;
/**
 * Longer than an instance takes to hear of a new key file and say it seals with it (at once; at
 * worst at its next beat, every 5 s), and than one that died stays listed as live (15 s).
 */
const SWITCH_WAIT_MS = 20_000;
/** How often the wait tells the instances of the key file again, and looks at what they say. */
const SWITCH_POLL_MS = 500;

/** Makes a rename in `dir` durable; a no-op where directories cannot be synced. */
function syncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'ENOTSUP') throw error;
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a key file atomically and durably: a reader sees the old file or the new one, never half
 * of one, and after a power loss the file is the whole old key or the whole new one, never an
 * empty or truncated file while the store already holds records sealed under the new key. The
 * content is synced (by the same helper that creates the first key file) before the rename, and
 * the directory after it.
 */
function writeKeyFileDurably(path: string, key: MasterKey): void {
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    if (!writeKeyFile(temporary, key)) throw new Error(`${temporary} exists`);
    renameSync(temporary, path);
    syncDirectory(dirname(path));
  } catch (error) {
    rmSync(temporary, { force: true });
    if (error instanceof MasterKeyError) throw new CliError(error.message);
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new CliError(`cannot write master key file ${path}: ${reason}`);
  }
}

interface Swept {
  secrets: number;
  conversations: number;
  keys: number;
}

/** Re-seals under `to` what `from` sealed; what `to` sealed already stays as it is. */
async function sweep(ctx: OfflineContext, from: MasterKey, to: MasterKey): Promise<Swept> {
  return {
    secrets: await rewrapSealedSecrets(ctx.store, [from], to),
    conversations: await rewrapConversations(ctx, from, to),
    keys: await new StoredKeys(ctx.store, () => to).rewrap([from], to),
  };
}

/**
 * Sweeps until nothing is left under `current`. A gateway following the key file seals with
 * `current` until it hears of the new file (`awaitSwitch` waits for that before the first sweep),
 * and one not yet restarted with a new key from the environment seals with it until it is: later
 * sweeps move what they wrote meanwhile. `stillSealing` names them when records keep coming. An
 * offline rotation (no gateway running) needs one sweep: pass no `stillSealing`.
 */
async function sweepUntilDone(
  ctx: OfflineContext,
  current: MasterKey,
  next: MasterKey,
  stillSealing?: string,
): Promise<Swept> {
  const total: Swept = { secrets: 0, conversations: 0, keys: 0 };
  for (let pass = 1; ; pass++) {
    const swept = await sweep(ctx, current, next);
    total.secrets += swept.secrets;
    total.conversations += swept.conversations;
    total.keys += swept.keys;
    if (stillSealing === undefined) return total;
    // Even a first sweep that moved nothing is checked again once gateways had time to switch.
    if (pass > 1 && swept.secrets + swept.conversations + swept.keys === 0) return total;
    if (pass === MAX_SWEEPS) throw new Error(`records keep being sealed under the old key (${stillSealing})`);
    await sleep(SETTLE_MS);
  }
}

/**
 * Tells every instance serving from this store that the key file changed, and waits until each
 * says it seals with `next`: until then one may seal more under the key being retired. Told
 * again every half second, for one that started listening only after the first word; throws
 * naming those that still did not.
 */
async function awaitSwitch(ctx: OfflineContext, next: MasterKey): Promise<void> {
  const deadline = Date.now() + SWITCH_WAIT_MS;
  for (;;) {
    const behind = (await liveInstances(ctx.store.instances)).filter((i) => i.masterKeyId !== next.id);
    if (behind.length === 0) return;
    if (Date.now() >= deadline) {
      const sealing = (i: InstanceRecord) =>
        i.masterKeyId === undefined
          ? 'not saying which key it seals with (an older Keyward)'
          : `sealing with ${i.masterKeyId}`;
      throw new Error(
        `instances serving from this store did not take up the new key within ${SWITCH_WAIT_MS / 1000} s (${describeInstances(behind, sealing)}): does each read ${ctx.paths.masterKeyFile}?`,
      );
    }
    await ctx.store.signalChange('master_key');
    await sleep(SWITCH_POLL_MS);
  }
}

/**
 * A key from the environment reaches a running gateway only at its restart: records re-sealed
 * under a new one while it runs are ones it can no longer open. The one-step rotation is offline.
 */
async function refuseWhileServed(ctx: OfflineContext, variable: string): Promise<void> {
  const live = await liveInstances(ctx.store.instances);
  if (live.length === 0) return;
  throw new CliError(
    `${live.length} Keyward instance(s) serve from this store (${describeInstances(live)}), and a master key from the environment reaches them only when they restart: re-sealed now, every stored key and response would be closed to them. ` +
      `Rotate online instead: restart each instance with ${variable} set to the new value and ${variable.replace('KEYWARD_', 'KEYWARD_PREVIOUS_')} to the current one (they seal with the new key and open both), then run keyward master rotate with those same two variables to move every record to the new key. Or stop every instance and run this again`,
  );
}

/**
 * The online rotation's last step: instances restarted with the new key seal with it and open
 * both; what the previous key sealed moves to the new one, sweeping until no instance still
 * running with the previous key as its own seals more.
 */
async function finishRotation(
  ctx: OfflineContext,
  io: CliIO,
  json: boolean | undefined,
  previous: MasterKey,
): Promise<number> {
  const current = ctx.master;
  const variable =
    previous.origin === 'passphrase' ? 'KEYWARD_PREVIOUS_MASTER_PASSPHRASE' : 'KEYWARD_PREVIOUS_MASTER_KEY';
  await refuseWhileSealing(ctx, previous, 'nothing was moved');
  let swept: Swept;
  try {
    swept = await sweepUntilDone(
      ctx,
      previous,
      current,
      'an instance still runs with the previous key as its own: restart it with the new one, then run this again',
    );
    // One started with the previous key while the records moved would seal with it again.
    await refuseWhileSealing(ctx, previous, 'run this again once it is restarted');
  } catch (error) {
    // Nothing is lost: every instance restarted so far opens both keys, and this can run again.
    recordRotation(ctx, previous, current, false);
    throw new CliError(`rotation incomplete: ${(error as Error).message}`);
  }
  recordRotation(ctx, previous, current, true, swept);
  return printRotated(
    ctx,
    io,
    json,
    { from: previous, to: current, swept },
    `nothing is sealed under the previous key any more: remove ${variable} from each instance's environment at its next restart`,
  );
}

/**
 * An instance that seals with the previous key, or does not say which key it seals with (one
 * started by an older Keyward), would seal more under it after the rotation is declared done,
 * and an idle one writes nothing a sweep could notice: each instance records its key when it
 * starts, and the rotation does not finish while one of them holds the previous key.
 */
async function refuseWhileSealing(ctx: OfflineContext, previous: MasterKey, outcome: string): Promise<void> {
  const live = await liveInstances(ctx.store.instances);
  const sealing = live.filter((instance) => instance.masterKeyId === previous.id);
  const unknown = live.filter((instance) => instance.masterKeyId === undefined);
  if (sealing.length === 0 && unknown.length === 0) return;
  const named = [
    ...(sealing.length > 0 ? [`seal with the previous key (${describeInstances(sealing)})`] : []),
    ...(unknown.length > 0
      ? [`do not say which key they seal with, started by an older Keyward (${describeInstances(unknown)})`]
      : []),
  ];
  throw new CliError(
    `instances serving from this store ${named.join(', and others ')}: restart each with the new key as KEYWARD_MASTER_KEY (or _PASSPHRASE) and the previous one beside it; ${outcome}`,
  );
}

/**
 * What a finished rotation moved, and what the operator does next (`advice`); also which
 * providers' `enc:` values sit outside the store, encrypted under the old key, to encrypt again.
 */
function printRotated(
  ctx: OfflineContext,
  io: CliIO,
  json: boolean | undefined,
  { from, to, swept }: { from: MasterKey; to: MasterKey; swept: Swept },
  advice: string,
): number {
  const reencrypt = ctx.config.providers
    .filter((p) => p.keys && ('values' in p.keys || 'env' in p.keys))
    .map((p) => p.id);
  const result = {
    previousKeyId: from.id,
    keyId: to.id,
    rewrapped: swept.keys,
    conversations: swept.conversations,
    reencrypt,
  };
  const lines = [
    `re-sealed ${swept.keys} stored key(s) and ${swept.conversations} stored response(s) and conversation(s) under master key ${to.id} (was ${from.id})`,
    advice,
  ];
  if (reencrypt.length > 0) {
    lines.push(
      `enc: values outside the store are not changed; re-encrypt those of: ${reencrypt.join(', ')} (keyward keys encrypt)`,
    );
  }
  print(io, json, result, lines.join('\n'));
  return 0;
}

/**
 * A rotation that did not finish left records under the key in `.previous`: they move to the
 * current key before `.previous` is overwritten, or nothing could open them any more.
 */
async function finishEarlierRotation(ctx: OfflineContext, current: MasterKey): Promise<void> {
  const file = previousKeyFile(ctx.paths.masterKeyFile);
  try {
    const earlier = readPreviousMasterKey(ctx.paths.masterKeyFile);
    if (earlier && earlier.id !== current.id) await sweep(ctx, earlier, current);
  } catch (error) {
    throw new CliError(
      `cannot move what an earlier rotation left under the key in ${file}, nothing changed: ${(error as Error).message}`,
    );
  }
}

/**
 * `keyward master rotate`: re-seals every stored record under a new master key. With a key file,
 * the new key replaces it (the old one is kept beside it as `.previous` until the operator
 * deletes it) and a running gateway picks it up and seals with it while the records move. With a
 * key or passphrase from the environment, which reaches a gateway only at its start, a rotation
 * is either offline (every instance stopped; the new one comes from KEYWARD_NEW_MASTER_KEY or
 * KEYWARD_NEW_MASTER_PASSPHRASE) or online: instances restarted with the new key and
 * KEYWARD_PREVIOUS_MASTER_KEY (or _PASSPHRASE) set to the old one, and this run with the same
 * two moving what the old key sealed (`finishRotation`).
 */
export async function masterRotateCommand(
  options: OfflineOptions,
  io: CliIO,
  json: boolean | undefined,
): Promise<number> {
  const opened = await openConfiguredStore(options, io);
  try {
    // The keys are read under the lock: a rotation that finishes meanwhile changes the key file
    // and what the store is sealed with, and this one must start from what it left.
    return await withRotationLock(opened.store.meta, async () => {
      const ctx = await openSealed(opened, io);
      try {
        return await rotate(ctx, io, json);
      } finally {
        await ctx.audit.close();
      }
    });
  } finally {
    await opened.store.close();
  }
}

/** Audited as the CLI's act, like every other key change: which key replaced which, and what moved. */
function recordRotation(
  ctx: OfflineContext,
  current: MasterKey,
  next: MasterKey,
  complete: boolean,
  swept?: Swept,
): void {
  recordEvent(ctx.audit, AUDIT_EVENTS.adminAction, AUDIT_ACTORS.cli, {
    action: 'master.rotated',
    target: next.id,
    detail: { previousKeyId: current.id, origin: current.origin, complete, ...swept },
  });
}

async function rotate(ctx: OfflineContext, io: CliIO, json: boolean | undefined): Promise<number> {
  const current = ctx.master;
  const kept = ctx.masters[1];
  const newGiven = Boolean(io.env.KEYWARD_NEW_MASTER_KEY || io.env.KEYWARD_NEW_MASTER_PASSPHRASE);
  if (current.origin !== 'file' && kept) {
    if (newGiven) {
      throw new CliError(
        'a rotation is under way (KEYWARD_PREVIOUS_MASTER_KEY or _PASSPHRASE is set): finish it first by running keyward master rotate without KEYWARD_NEW_MASTER_KEY or KEYWARD_NEW_MASTER_PASSPHRASE',
        2,
      );
    }
    return finishRotation(ctx, io, json, kept);
  }
  const file = ctx.paths.masterKeyFile;
  if (current.origin === 'file' && newGiven) {
    // Ignored, a random key went into the file while the operator thought theirs was in use, and
    // deleting the files after moving to it lost every stored key.
    throw new CliError(
      `KEYWARD_NEW_MASTER_KEY and KEYWARD_NEW_MASTER_PASSPHRASE apply only to a master key from the environment, and this one is the key file ${file}; nothing changed. ` +
        `To rotate the key file, run this without them: it writes a new random key there. ` +
        `To move to a key from the environment, stop every instance and run this with KEYWARD_MASTER_KEY set to the contents of ${file} and KEYWARD_NEW_MASTER_KEY (or _PASSPHRASE) to the new one, start the instances with the new one, and only then delete ${file}`,
      2,
    );
  }
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
      'the master key comes from the environment: with every instance stopped, give the new one in KEYWARD_NEW_MASTER_KEY or KEYWARD_NEW_MASTER_PASSPHRASE; while they serve, restart each with the new key and KEYWARD_PREVIOUS_MASTER_KEY (or _PASSPHRASE) set to the current one, then run this with those two',
      2,
    );
  }
  if (next.id === current.id) throw new CliError('the new master key is the same as the current one', 2);
  if (current.origin !== 'file') {
    await refuseWhileServed(
      ctx,
      current.origin === 'env' ? 'KEYWARD_MASTER_KEY' : 'KEYWARD_MASTER_PASSPHRASE',
    );
  }

  const previous = previousKeyFile(file);
  if (current.origin === 'file') {
    await finishEarlierRotation(ctx, current);
    // Both keys are in place before any record needs the new one, and stay: once the file holds
    // the new key, a running gateway may seal with it at any moment.
    writeKeyFileDurably(previous, current);
    writeKeyFileDurably(file, next);
  }
  let swept: Swept;
  try {
    // Before anything is re-sealed under the new key, and after: one that started meanwhile may
    // have missed the word.
    if (current.origin === 'file') await awaitSwitch(ctx, next);
    swept = await sweepUntilDone(
      ctx,
      current,
      next,
      current.origin === 'file' ? 'a gateway that does not read this key file?' : undefined,
    );
    if (current.origin === 'file') await awaitSwitch(ctx, next);
  } catch (error) {
    const reason = (error as Error).message;
    if (current.origin === 'file') {
      // The key file holds the new key already, and records are sealed under it: a key change.
      recordRotation(ctx, current, next, false);
      throw new CliError(
        `rotation incomplete: ${reason}. Records are sealed under both keys, which are kept (the new one in ${file}, the old one in ${previous}; a gateway opens both). Running keyward master rotate again finishes it: it first moves what is left to the key in ${file}, then rotates to another new key. Keep ${previous} until then`,
      );
    }
    // No gateway takes up a key from the environment while it runs: moving the records back undoes it.
    await sweep(ctx, next, current);
    throw new CliError(`rotation failed, nothing changed: ${reason}`);
  }
  recordRotation(ctx, current, next, true, swept);
  return printRotated(
    ctx,
    io,
    json,
    { from: current, to: next, swept },
    current.origin === 'file'
      ? `the new key is in ${file}; the old one is in ${previous}: delete it once backups hold the new one`
      : `set ${current.origin === 'env' ? 'KEYWARD_MASTER_KEY' : 'KEYWARD_MASTER_PASSPHRASE'} to the new value before the next start`,
  );
}
