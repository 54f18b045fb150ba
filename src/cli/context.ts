import { existsSync } from 'node:fs';
import { AuditLog } from '../audit/index.js';
import { type Config, ConfigError, type DataPaths, dataPaths, loadConfig } from '../config/index.js';
import { openStore, passphraseSalt, StoreOpenError } from '../gateway/index.js';
import {
  EnvelopeError,
  loadMasterKey,
  loadPreviousMasterKey,
  loadSealedSecret,
  type MasterKey,
  MasterKeyError,
  masterKeyRing,
} from '../keys/index.js';
import { Redactor } from '../observability/index.js';
import type { Store } from '../store/index.js';
import { type CliIO, terminalSafe } from './io.js';

/** A failure the CLI reports as one line and exit code `code`; never holds a secret. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message);
  }
}

/** A word shaped as a command's name; anything else (a key pasted in its place) is not repeated. */
const COMMAND_WORD = /^[a-z][a-z-]{0,23}$/;

/** The message for an unknown command typed as `words`: only words shaped as command names are repeated. */
export function unknownCommand(words: readonly string[]): string {
  return `unknown command '${words.map((word) => (COMMAND_WORD.test(word) ? word : '…')).join(' ')}'`;
}

export interface OfflineOptions {
  config?: string | undefined;
  dataDir?: string | undefined;
}

/** The configuration, the store and the master key, opened by a command that works offline. */
export interface OfflineContext {
  config: Config;
  source: string;
  paths: DataPaths;
  store: Store;
  master: MasterKey;
  /**
   * The keys that open stored secrets: the master key, then the one a rotation keeps (`.previous`,
   * or KEYWARD_PREVIOUS_MASTER_KEY): what is left under that key stays readable, and rotate moves it.
   */
  masters: readonly MasterKey[];
  /** Changes made by the CLI go into the same audit chain as the gateway's, with actor `cli`. */
  audit: AuditLog;
  auditKey: Buffer;
  close(): Promise<void>;
}

/** The CLI knows no loaded keys; the redactor's patterns still mask key-shaped text in audit data. */
const redactor = new Redactor();

/**
 * Why a command other than `init` must not open this SQLite store: it is not there, and opening
 * would create and migrate an empty one (in a mistyped --data-dir), after which the command failed
 * anyway or, like `migrate`, said all was well. A Postgres store has no file to miss.
 */
function missingStore(config: Config, paths: DataPaths): string | undefined {
  if (config.storage.postgres || existsSync(paths.database)) return undefined;
  const missing = existsSync(paths.dataDir)
    ? `no store at ${paths.database}`
    : `the data directory ${paths.dataDir} does not exist`;
  return `${missing} (run 'keyward init' first, or pass the --data-dir or --config that names the store)`;
}

/**
 * The configuration and the store it names (migrated on open), with errors a person can act on.
 * Only `create` (init) makes a SQLite store that is not there yet.
 */
export async function openConfiguredStore(
  options: OfflineOptions,
  io: CliIO,
  create = false,
): Promise<ConfiguredStore> {
  let config: Config;
  let source: string;
  try {
    ({ config, source } = loadConfig({ file: options.config, env: io.env }));
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, 2);
    throw error;
  }
  const paths = dataPaths(config, io.env, options.dataDir);
  const missing = create ? undefined : missingStore(config, paths);
  if (missing) throw new CliError(missing);
  return connectConfigured({ config, source, paths });
}

/** The store a loaded configuration names (migrated on open), with an error a person can act on. */
export async function connectConfigured(loaded: Omit<ConfiguredStore, 'store'>): Promise<ConfiguredStore> {
  const { config, paths } = loaded;
  try {
    return { ...loaded, store: await openStore(config, paths) };
  } catch (error) {
    if (error instanceof StoreOpenError) throw new CliError(error.message);
    throw error;
  }
}

export interface ConfiguredStore {
  config: Config;
  source: string;
  paths: DataPaths;
  store: Store;
}

/**
 * Opens what an offline command needs. Only `keyward init` and `keyward start` create a master key:
 * any other command that finds none stops, so a forgotten KEYWARD_MASTER_KEY cannot silently seal
 * records under a new key.
 */
export async function openOffline(
  options: OfflineOptions,
  io: CliIO,
  create = false,
): Promise<OfflineContext> {
  const opened = await openConfiguredStore(options, io, create);
  try {
    return await openSealed(opened, io, create);
  } catch (error) {
    await opened.store.close();
    throw error;
  }
}

/**
 * Reads the master key (and the one an unfinished rotation kept) and opens the audit key sealed
 * in `opened`. Closing the context closes the store; a failure leaves it open for the caller.
 */
export async function openSealed(
  opened: ConfiguredStore,
  io: CliIO,
  create = false,
): Promise<OfflineContext> {
  const { store, paths } = opened;
  try {
    const keys = { env: io.env, file: paths.masterKeyFile, salt: passphraseSalt(store, create) };
    const { master } = await loadMasterKey({ ...keys, create });
    const masters = masterKeyRing(master, await loadPreviousMasterKey(master, keys));
    const auditKey = await loadSealedSecret(store, masters, 'audit_key');
    const audit = new AuditLog({
      store: store.audit,
      key: auditKey,
      redact: (text) => redactor.redact(text),
    });
    const close = async () => {
      await audit.close();
      await store.close();
    };
    return { ...opened, master, masters, audit, auditKey, close };
  } catch (error) {
    if (error instanceof EnvelopeError)
      throw new CliError('master key: the store was sealed with another master key');
    if (error instanceof MasterKeyError) {
      // Only a key given nowhere is one `keyward init` makes; a wrong one it would not fix.
      const none =
        !create &&
        io.env.KEYWARD_MASTER_KEY === undefined &&
        io.env.KEYWARD_MASTER_PASSPHRASE === undefined &&
        !existsSync(paths.masterKeyFile);
      throw new CliError(`master key: ${error.message}${none ? " (run 'keyward init' first)" : ''}`);
    }
    throw error;
  }
}

export function print(io: CliIO, json: boolean | undefined, value: unknown, text: string): void {
  io.stdout.write(json ? `${JSON.stringify(value)}\n` : `${terminalSafe(text)}\n`);
}
