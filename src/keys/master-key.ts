import { createHash, randomBytes, scryptSync } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

/** The key that seals every record at rest. `id` names it in ciphertexts; it reveals nothing. */
export interface MasterKey {
  id: string;
  key: Buffer;
  origin: 'env' | 'file' | 'passphrase';
}

/** The master key cannot be had: the gateway refuses to start rather than run unencrypted. */
export class MasterKeyError extends Error {
  override name = 'MasterKeyError';
}

export const MASTER_KEY_BYTES = 32;
const MIN_PASSPHRASE_LENGTH = 16;

/** Below these, scrypt is too cheap to slow a guesser down (OWASP's floor for scrypt). */
export const SCRYPT_FLOOR = Object.freeze({ N: 2 ** 17, r: 8, p: 1 });
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

export function masterKeyFromBytes(key: Buffer, origin: MasterKey['origin']): MasterKey {
  if (key.length !== MASTER_KEY_BYTES) {
    throw new MasterKeyError(`the master key must be ${MASTER_KEY_BYTES} bytes, got ${key.length}`);
  }
  // 32 random bytes have ~30 distinct values; fewer than 16 means a constant or a pattern.
  if (new Set(key).size < 16)
    throw new MasterKeyError('the master key is not random (too few distinct bytes)');
  const id = createHash('sha256').update('keyward/master-key-id\0').update(key).digest('hex').slice(0, 8);
  return { id, key, origin };
}

/** Parses base64 (standard or URL-safe) of exactly 32 bytes. */
export function decodeMasterKey(text: string, origin: MasterKey['origin'], where: string): MasterKey {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) {
    throw new MasterKeyError(`${where} is not base64 (create one with: openssl rand -base64 32)`);
  }
  const bytes = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  try {
    return masterKeyFromBytes(bytes, origin);
  } catch (error) {
    throw new MasterKeyError(`${where}: ${(error as Error).message}`);
  }
}

export function generateMasterKey(): MasterKey {
  return masterKeyFromBytes(randomBytes(MASTER_KEY_BYTES), 'file');
}

/** Stretches a passphrase with scrypt; parameters below the floor are refused. */
export function deriveMasterKey(
  passphrase: string,
  salt: Buffer,
  params: ScryptParams = SCRYPT_FLOOR,
): MasterKey {
  const valid =
    Number.isInteger(params.N) &&
    (params.N & (params.N - 1)) === 0 &&
    Number.isInteger(params.r) &&
    Number.isInteger(params.p);
  if (!valid) throw new MasterKeyError('scrypt N must be a power of two, r and p integers');
  if (params.N < SCRYPT_FLOOR.N || params.r < SCRYPT_FLOOR.r || params.p < SCRYPT_FLOOR.p) {
    throw new MasterKeyError(
      `scrypt parameters N=${params.N}, r=${params.r}, p=${params.p} are below the floor N=${SCRYPT_FLOOR.N}, r=${SCRYPT_FLOOR.r}, p=${SCRYPT_FLOOR.p}`,
    );
  }
  if (passphrase.length < MIN_PASSPHRASE_LENGTH) {
    throw new MasterKeyError(
      `KEYWARD_MASTER_PASSPHRASE must be at least ${MIN_PASSPHRASE_LENGTH} characters`,
    );
  }
  if (salt.length < 16) throw new MasterKeyError('the scrypt salt must be at least 16 bytes');
  const key = scryptSync(passphrase.normalize('NFC'), salt, MASTER_KEY_BYTES, {
    ...params,
    maxmem: 128 * params.N * params.r * params.p + 64 * 1024 * 1024,
  });
  return masterKeyFromBytes(key, 'passphrase');
}

/**
 * Reads a key file, refusing one that others may read (like ssh with private keys). With
 * `create`, a missing file is created with a new random key, mode 0600, never overwriting a file
 * that appears meanwhile.
 */
export function readMasterKeyFile(path: string, create: boolean): { master: MasterKey; created: boolean } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || !create) {
      throw new MasterKeyError(
        `cannot read master key file ${path}: ${(error as NodeJS.ErrnoException).code}`,
      );
    }
    const master = generateMasterKey();
    if (publishKeyFile(path, master)) return { master, created: true };
    // Another process starting at the same time (a worker of `--workers N`) published its key first.
    return readMasterKeyFile(path, false);
  }
  try {
    const mode = fstatSync(fd).mode & 0o777;
    if (mode & 0o077) {
      throw new MasterKeyError(
        `master key file ${path} is readable by others (mode ${mode.toString(8)}); run: chmod 600 ${path}`,
      );
    }
    return {
      master: decodeMasterKey(readFileSync(fd, 'utf8'), 'file', `master key file ${path}`),
      created: false,
    };
  } finally {
    closeSync(fd);
  }
}

/** Where `keyward master rotate` keeps the key it replaced in the key file `path`. */
export const previousKeyFile = (path: string): string => `${path}.previous`;

/**
 * The key a rotation replaced, while its `.previous` file is kept: records it sealed may remain
 * (written during the rotation, or left by one that failed), and it still opens them.
 */
export function readPreviousMasterKey(path: string): MasterKey | undefined {
  const previous = previousKeyFile(path);
  return existsSync(previous) ? readMasterKeyFile(previous, false).master : undefined;
}

/**
 * Writes the key beside `path`, then links it there: the file appears whole or not at all, so a
 * process starting at the same moment never reads it half written. False when a file was
 * already there, which is kept.
 */
function publishKeyFile(path: string, master: MasterKey): boolean {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new MasterKeyError(
      `cannot create master key file ${path}: ${(error as NodeJS.ErrnoException).code}`,
    );
  }
  const draft = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  if (!writeKeyFile(draft, master))
    throw new MasterKeyError(`cannot create master key file ${draft}: EEXIST`);
  try {
    linkSync(draft, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // A file system without hard links: created in place, never over an existing file.
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS') return writeKeyFile(path, master);
    throw new MasterKeyError(`cannot create master key file ${path}: ${code}`);
  } finally {
    rmSync(draft, { force: true });
  }
}

/** Creates `file` (mode 0600) holding the key, synced to disk; false when it exists already. */
export function writeKeyFile(file: string, master: MasterKey): boolean {
  let fd: number;
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    throw new MasterKeyError(`cannot create master key file ${file}: ${code}`);
  }
  try {
    writeSync(fd, `${master.key.toString('base64')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

export interface MasterKeyOptions {
  env: NodeJS.ProcessEnv;
  /** `masterKey.file` or the data directory's `master.key`. */
  file: string;
  /** Create the file when no key is given anywhere (first start, `keyward init`). */
  create: boolean;
  /** The passphrase salt, kept in the store; created there on first use. */
  salt(): Promise<Buffer>;
}

/**
 * The master key, from (in order) `KEYWARD_MASTER_KEY`, `KEYWARD_MASTER_PASSPHRASE`, or the key
 * file. Anything wrong is an error: there is no fallback to plaintext.
 */
export async function loadMasterKey(
  options: MasterKeyOptions,
): Promise<{ master: MasterKey; created: boolean }> {
  const master = await keyFromEnv('KEYWARD_MASTER', options);
  return master ? { master, created: false } : readMasterKeyFile(options.file, options.create);
}

/** `<prefix>_KEY` (base64) or `<prefix>_PASSPHRASE` (with the store's salt); one at most. */
async function keyFromEnv(
  prefix: 'KEYWARD_MASTER' | 'KEYWARD_PREVIOUS_MASTER',
  { env, salt }: Pick<MasterKeyOptions, 'env' | 'salt'>,
): Promise<MasterKey | undefined> {
  const raw = env[`${prefix}_KEY`];
  const passphrase = env[`${prefix}_PASSPHRASE`];
  if (raw !== undefined && passphrase !== undefined) {
    throw new MasterKeyError(`set ${prefix}_KEY or ${prefix}_PASSPHRASE, not both`);
  }
  if (raw !== undefined) return decodeMasterKey(raw, 'env', `${prefix}_KEY`);
  if (passphrase !== undefined) return deriveMasterKey(passphrase, await salt());
  return undefined;
}

/**
 * The key a rotation keeps opening records with, never sealing: for a key file, the one beside it
 * in `.previous`; for a key from the environment, KEYWARD_PREVIOUS_MASTER_KEY or
 * KEYWARD_PREVIOUS_MASTER_PASSPHRASE, since a running instance learns a new key only at a restart
 * and must go on opening what the old one sealed until the rotation has moved it.
 */
export async function loadPreviousMasterKey(
  master: MasterKey,
  options: Pick<MasterKeyOptions, 'env' | 'file' | 'salt'>,
): Promise<MasterKey | undefined> {
  const raw = options.env.KEYWARD_PREVIOUS_MASTER_KEY;
  const passphrase = options.env.KEYWARD_PREVIOUS_MASTER_PASSPHRASE;
  if (master.origin === 'file') {
    if (raw !== undefined || passphrase !== undefined) {
      throw new MasterKeyError(
        `KEYWARD_PREVIOUS_MASTER_KEY and KEYWARD_PREVIOUS_MASTER_PASSPHRASE go with a master key from the environment; with the key file ${options.file}, the previous key is the file beside it (${previousKeyFile(options.file)})`,
      );
    }
    return readPreviousMasterKey(options.file);
  }
  return keyFromEnv('KEYWARD_PREVIOUS_MASTER', options);
}

/** The keys that open records: the one that seals first, then the previous one if it differs. */
export function masterKeyRing(master: MasterKey, previous: MasterKey | undefined): MasterKey[] {
  return previous && previous.id !== master.id ? [master, previous] : [master];
}
