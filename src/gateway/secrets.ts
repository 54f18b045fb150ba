import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { MIN_CLIENT_KEY_LENGTH } from '../auth/index.js';
import { type Config, ConfigError, type DataPaths } from '../config/index.js';
import {
  EnvelopeError,
  KeySourceError,
  keysFromEnv,
  loadMasterKey,
  loadPreviousMasterKey,
  loadSealedSecret,
  type MasterKey,
  MasterKeyError,
  masterKeyRing,
  readMasterKeyFile,
  type SecretString,
} from '../keys/index.js';
import type { Logger } from '../observability/index.js';
import type { Store } from '../store/index.js';

/** Client keys from `auth.apiKeys.env` and the admin key: absent is allowed (fail closed), weak is not. */
export function credentialKeys(
  variable: string | undefined,
  env: NodeJS.ProcessEnv,
  source: string,
): SecretString[] {
  if (!variable || !env[variable]?.trim()) return [];
  // Checked before keysFromEnv, whose own (lower) floor for provider keys would speak first.
  const short = env[variable]
    .split(',')
    .map((value) => value.trim())
    .filter(Boolean)
    .findIndex((value) => value.length < MIN_CLIENT_KEY_LENGTH);
  if (short !== -1) {
    throw new ConfigError(source, [
      `${variable}: key #${short + 1} is too short; every key must be at least ${MIN_CLIENT_KEY_LENGTH} characters`,
    ]);
  }
  let keys: SecretString[];
  try {
    keys = keysFromEnv(variable, env);
  } catch (error) {
    if (error instanceof KeySourceError) throw new ConfigError(source, [error.message]);
    throw error;
  }
  return keys;
}

/** Digests of the admin keys `keyward init` created (the keys themselves were shown once). */
export async function adminKeyHashes(store: Store): Promise<string[]> {
  const raw = await store.meta.get('admin_key_hashes');
  return raw ? (JSON.parse(raw) as string[]) : [];
}

/** The master keys in use, newest first (the one that seals); older ones still open. */
export class MasterKeys {
  /** The key file as last read here (inode, size, mtime); undefined until a re-read. */
  private read: string | undefined;
  private switched: ((id: string) => void) | undefined;

  constructor(
    private keys: MasterKey[],
    private readonly file: string,
    private readonly logger: Logger,
  ) {}

  get all(): MasterKey[] {
    return this.keys;
  }

  get newest(): MasterKey {
    return this.keys[0]!;
  }

  /** `listener` hears the id of each new key the key file brings (the instance reports it). */
  onSwitch(listener: (id: string) => void): void {
    this.switched = listener;
  }

  /** `keyward master rotate` run elsewhere rewrites the key file; pick the new key up, keep the old. */
  reread(): void {
    if (this.newest.origin !== 'file') return;
    try {
      this.read = identity(this.file);
      const { master } = readMasterKeyFile(this.file, false);
      if (master.id === this.newest.id) return;
      this.keys = [master, ...this.keys.filter((m) => m.id !== master.id)];
      this.switched?.(master.id);
    } catch (error) {
      this.logger.error(`cannot re-read the master key file: ${(error as Error).message}`);
    }
  }

  /**
   * The keys to open a record sealed by `keyId` with. A key not held here may be in the key file
   * already: another instance that heard of a rotation first seals with it, and the rotation
   * re-seals with it. The file is read again then, only when it changed since it was last read,
   * so a record no key file opens costs a stat, not a read.
   */
  opening(keyId: string | undefined): MasterKey[] {
    if (keyId === undefined || this.keys.some((m) => m.id === keyId)) return this.keys;
    let now: string;
    try {
      now = identity(this.file);
    } catch {
      return this.keys;
    }
    if (now !== this.read) this.reread();
    return this.keys;
  }
}

/** What tells one key file from the next: a rotation renames a new file over it. */
function identity(file: string): string {
  const { ino, size, mtimeMs } = statSync(file);
  return `${ino}:${size}:${mtimeMs}`;
}

export interface GatewaySecrets {
  masters: MasterKeys;
  /** Mixed into token digests. */
  pepper: Buffer;
  /** Seals the audit chain. */
  auditKey: Buffer;
}

interface SecretsOptions {
  config: Config;
  env: NodeJS.ProcessEnv;
  paths: DataPaths;
  store: Store;
  source: string;
  logger: Logger;
}

/** The master key, and the secrets it seals in the store; a wrong or missing key stops the start. */
export async function openSecrets({ config, env, paths, store, source, logger }: SecretsOptions) {
  const masters = new MasterKeys(
    await masterKeys({ config, env, paths, store, source, logger }),
    paths.masterKeyFile,
    logger,
  );
  try {
    const pepper = await loadSealedSecret(store, masters.all, 'token_pepper');
    const auditKey = await loadSealedSecret(store, masters.all, 'audit_key');
    return { masters, pepper, auditKey } satisfies GatewaySecrets;
  } catch (error) {
    if (error instanceof EnvelopeError) {
      throw new ConfigError(source, [
        `master key: the store was sealed with another master key (${error.message})`,
      ]);
    }
    throw error;
  }
}

/**
 * The store's passphrase salt, made on first use only by what may make the master key (a
 * gateway's start, `keyward init`): anything else finding none has a store sealed without a
 * passphrase, and leaves it unwritten (doctor reads a Postgres store on a read-only connection).
 */
export function passphraseSalt(store: Store, create: boolean): () => Promise<Buffer> {
  return async () => {
    const salt = create
      ? await store.meta.setIfAbsent('master_salt', randomBytes(16).toString('base64'))
      : await store.meta.get('master_salt');
    if (salt === undefined)
      throw new MasterKeyError(
        'the store has no passphrase salt: it was sealed with a master key, not a passphrase',
      );
    return Buffer.from(salt, 'base64');
  };
}

/**
 * The id of the master key a gateway started now would seal with, read without creating a key
 * file or a passphrase salt; undefined when there is none yet (a first start makes one). For the
 * `--workers` primary's heartbeat: a key file is read at each call, since a rotation rewrites it
 * and the workers follow it.
 */
export async function sealingKeyId(
  env: NodeJS.ProcessEnv,
  paths: DataPaths,
  store: Store,
): Promise<() => string | undefined> {
  if (env.KEYWARD_MASTER_KEY === undefined && env.KEYWARD_MASTER_PASSPHRASE === undefined) {
    return () => {
      try {
        return readMasterKeyFile(paths.masterKeyFile, false).master.id;
      } catch {
        return undefined;
      }
    };
  }
  try {
    const { master } = await loadMasterKey({
      env,
      file: paths.masterKeyFile,
      create: false,
      salt: passphraseSalt(store, false),
    });
    return () => master.id;
  } catch (error) {
    if (error instanceof MasterKeyError) return () => undefined;
    throw error;
  }
}

/**
 * The master key, then the one a rotation keeps (`.previous` beside a key file, else
 * KEYWARD_PREVIOUS_MASTER_KEY or _PASSPHRASE): records sealed with it during the rotation (or left
 * by one that failed) open after a restart.
 */
async function masterKeys({
  config,
  env,
  paths,
  store,
  source,
  logger,
}: SecretsOptions): Promise<MasterKey[]> {
  try {
    const salt = passphraseSalt(store, true);
    const { master, created } = await loadMasterKey({
      env,
      file: paths.masterKeyFile,
      // Only the default location is created: a configured file that is missing is more likely a
      // secret mount that failed than a first start, and a new key would orphan every record.
      create: config.masterKey.file === undefined,
      salt,
    });
    if (created) logger.warn({ file: paths.masterKeyFile }, 'created a new master key file; back it up');
    return masterKeyRing(
      master,
      await loadPreviousMasterKey(master, { env, file: paths.masterKeyFile, salt }),
    );
  } catch (error) {
    if (error instanceof MasterKeyError) {
      // A configured file that is missing was not created (above): say how one comes to be.
      const fromEnv = env.KEYWARD_MASTER_KEY !== undefined || env.KEYWARD_MASTER_PASSPHRASE !== undefined;
      const hint =
        config.masterKey.file !== undefined && !fromEnv && !existsSync(paths.masterKeyFile)
          ? " (run 'keyward init' first, or point masterKey.file at the existing key)"
          : '';
      throw new ConfigError(source, [`master key: ${error.message}${hint}`]);
    }
    throw error;
  }
}
