import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { AUDIT_ACTORS, AUDIT_EVENTS, recordEvent } from '../audit/index.js';
import {
  ENC_PREFIX,
  fingerprintOf,
  inlineBinding,
  KeyAlreadyStored,
  KeySourceError,
  KeyValueError,
  StoredKeys,
  type StoredKeyView,
  seal,
  splitKeyList,
  validateKeyValue,
} from '../keys/index.js';
import { CliError, type OfflineContext, print, unknownCommand } from './context.js';
import { envConfigProviders, writeEnvConfig } from './env-config-file.js';
import { type CliIO, readStdin, shellWord, TerminalStdinError } from './io.js';
import { table } from './table.js';

export interface KeysOptions {
  config?: string | undefined;
  'data-dir'?: string | undefined;
  provider?: string | undefined;
  weight?: string | undefined;
  json?: boolean | undefined;
  'write-config'?: string | undefined;
}

function keyTable(keys: readonly StoredKeyView[]): string {
  if (keys.length === 0) return 'no stored keys';
  const rows = keys.map((k) => [
    k.id,
    k.provider,
    k.fingerprint,
    k.status,
    String(k.weight),
    `${k.ageDays}d`,
  ]);
  return table(['ID', 'PROVIDER', 'FINGERPRINT', 'STATUS', 'WEIGHT', 'AGE'], rows);
}

function requireProvider(ctx: OfflineContext, options: KeysOptions, store: boolean): string {
  const id = options.provider;
  if (!id) throw new CliError('--provider is required', 2);
  const provider = ctx.config.providers.find((p) => p.id === id);
  if (!provider) {
    // The name given is not repeated, as on /admin/keys: a key may have been pasted into the flag.
    const known = ctx.config.providers.map((p) => p.id);
    throw new CliError(
      known.length === 0
        ? `unknown provider: no provider is configured (${ctx.source})`
        : `unknown provider: the configured providers are ${known.join(', ')} (${ctx.source})`,
      2,
    );
  }
  if (store && !(provider.keys && 'store' in provider.keys)) {
    throw new CliError(
      `provider '${id}' does not take its keys from the store; set its keys to { store: true }`,
      2,
    );
  }
  return id;
}

/** The command line that was run, for an error to show piping the key to it. */
function commandLine(action: string, provider: string, options: KeysOptions): string {
  const words = ['keyward', 'keys', action, '--provider', provider];
  if (options.weight !== undefined) words.push('--weight', options.weight);
  if (options.config !== undefined) words.push('--config', options.config);
  if (options['data-dir'] !== undefined) words.push('--data-dir', options['data-dir']);
  return words.map(shellWord).join(' ');
}

/** A key the provider has stored already is refused (as `keys import-env` skips it), by its id. */
async function refusingStored<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof KeyAlreadyStored)
      throw new CliError(
        KeyAlreadyStored.message(error.provider, error.stored, `keyward keys enable ${error.stored.id}`),
      );
    throw error;
  }
}

async function secretFromStdin(io: CliIO, command: string): Promise<string> {
  try {
    return validateKeyValue(await readStdin(io.stdin, command));
  } catch (error) {
    if (error instanceof TerminalStdinError) throw new CliError(error.message, 2);
    if (error instanceof KeyValueError)
      throw new CliError(`${error.message}; pipe the key on standard input`, 2);
    throw error;
  }
}

function weightOf(options: KeysOptions): number {
  if (options.weight === undefined) return 1;
  const weight = Number(options.weight);
  if (!Number.isInteger(weight) || weight < 1 || weight > 1000)
    throw new CliError('--weight must be 1..1000', 2);
  return weight;
}

/** `keyward keys …`: the stored provider keys, managed offline; a running gateway sees changes within a second. */
export async function keysCommand(
  action: string,
  args: readonly string[],
  options: KeysOptions,
  ctx: OfflineContext,
  io: CliIO,
): Promise<number> {
  const stored = new StoredKeys(ctx.store, () => ctx.master);
  const { json } = options;
  switch (action) {
    case 'list': {
      if (options.provider !== undefined) requireProvider(ctx, options, false);
      const keys = await stored.list(options.provider);
      print(io, json, { keys }, keyTable(keys));
      return 0;
    }
    case 'add': {
      const provider = requireProvider(ctx, options, true);
      const weight = weightOf(options);
      const value = await secretFromStdin(io, commandLine(action, provider, options));
      const view = await refusingStored(() => stored.add(provider, value, weight));
      recordEvent(ctx.audit, AUDIT_EVENTS.keyAdded, AUDIT_ACTORS.cli, {
        provider,
        keyId: view.id,
        fingerprint: view.fingerprint,
        source: 'cli',
      });
      print(io, json, view, `added ${view.id} ${view.fingerprint} for ${provider}`);
      return 0;
    }
    case 'rotate': {
      const provider = requireProvider(ctx, options, true);
      const value = await secretFromStdin(io, commandLine(action, provider, options));
      const result = await refusingStored(() => stored.rotate(provider, value));
      recordEvent(ctx.audit, AUDIT_EVENTS.keyRotated, AUDIT_ACTORS.cli, {
        provider,
        keyId: result.added.id,
        fingerprint: result.added.fingerprint,
        ...(result.disabled[0] && { previousKeyId: result.disabled.join(',') }),
      });
      print(
        io,
        json,
        result,
        `added ${result.added.id} ${result.added.fingerprint}; disabled ${result.disabled.join(', ') || 'nothing'} (requests in flight finish on them; remove them when done)`,
      );
      return 0;
    }
    case 'disable':
    case 'enable':
    case 'remove':
      return changeKeyState(action, args[0], stored, ctx, io, json);
    case 'encrypt': {
      const provider = requireProvider(ctx, options, false);
      const value = `${ENC_PREFIX}${seal(ctx.master, await secretFromStdin(io, commandLine(action, provider, options)), inlineBinding(provider))}`;
      print(io, json, { provider, value }, value);
      return 0;
    }
    case 'import-env':
      return importEnv(ctx, stored, io, json, options['write-config']);
    default:
      throw new CliError(unknownCommand(['keyward', 'keys', action]), 2);
  }
}

/** `keyward keys disable|enable|remove <id>`, audited as the CLI's act. */
async function changeKeyState(
  action: 'disable' | 'enable' | 'remove',
  id: string | undefined,
  stored: StoredKeys,
  ctx: OfflineContext,
  io: CliIO,
  json: boolean | undefined,
): Promise<number> {
  if (!id) throw new CliError(`keyward keys ${action} needs a key id (see keyward keys list)`, 2);
  const view =
    action === 'remove'
      ? await stored.remove(id)
      : await stored.setStatus(id, action === 'disable' ? 'disabled' : 'active');
  // What was given is not repeated, as for --provider: a key may have been pasted in its place.
  if (!view) throw new CliError('no stored key has that id (see keyward keys list)');
  const event =
    action === 'remove'
      ? AUDIT_EVENTS.keyRemoved
      : action === 'disable'
        ? AUDIT_EVENTS.keyDisabled
        : AUDIT_EVENTS.keyEnabled;
  recordEvent(ctx.audit, event, AUDIT_ACTORS.cli, { provider: view.provider, keyId: view.id });
  print(io, json, view, `${action === 'remove' ? 'removed' : `${action}d`} ${view.id} ${view.fingerprint}`);
  return 0;
}

/**
 * Without a config file the providers read their keys from the environment, so stored keys would
 * go unused: the no-file mode imports only together with writing the file that uses them.
 */
function checkWriteConfig(ctx: OfflineContext, path: string | undefined, env: NodeJS.ProcessEnv): void {
  const noFile = ctx.source === 'environment';
  if (noFile && path === undefined) {
    throw new CliError(
      'no config file is in use, so providers read their keys from the environment and stored keys would go unused; ' +
        'run keyward keys import-env --write-config keyward.yaml to store the keys and write a config file that reads them from the store',
      2,
    );
  }
  if (!noFile && path !== undefined) {
    throw new CliError(`--write-config is for the no-file mode; ${ctx.source} is in use`, 2);
  }
  if (path !== undefined && existsSync(path)) {
    throw new CliError(`${resolve(path)} already exists; choose another --write-config path`, 2);
  }
  // What would stop the file being written stops the import before any key is stored.
  if (path !== undefined) envConfigProviders(env);
}

/**
 * Moves the plain keys of every `keys: { env }` provider into the store, then says what to change:
 * the provider's keys block, and the variable to delete wherever the environment is kept.
 */
async function importEnv(
  ctx: OfflineContext,
  stored: StoredKeys,
  io: CliIO,
  json: boolean | undefined,
  writeConfig: string | undefined,
): Promise<number> {
  checkWriteConfig(ctx, writeConfig, io.env);
  const imported: Array<{ provider: string; variable: string; ids: string[]; skipped: number }> = [];
  const existing = new Set((await stored.list()).map((k) => `${k.provider}\0${k.fingerprint}`));
  for (const provider of ctx.config.providers) {
    if (!provider.keys || !('env' in provider.keys)) continue;
    const variable = provider.keys.env;
    const raw = io.env[variable]?.trim();
    if (!raw) continue;
    let values: string[];
    try {
      values = splitKeyList(raw, variable, true);
    } catch (error) {
      if (error instanceof KeySourceError) throw new CliError(error.message, 2);
      throw error;
    }
    const ids: string[] = [];
    let skipped = 0;
    for (const value of values) {
      if (value.startsWith(ENC_PREFIX)) {
        skipped++;
        continue;
      }
      if (existing.has(`${provider.id}\0${fingerprintOf(value)}`)) {
        skipped++;
        continue;
      }
      const view = await stored.add(provider.id, value).catch((error: unknown) => {
        if (error instanceof KeyValueError) throw new CliError(`${variable}: ${error.message}`, 2);
        throw error;
      });
      ids.push(view.id);
      recordEvent(ctx.audit, AUDIT_EVENTS.keyAdded, AUDIT_ACTORS.cli, {
        provider: provider.id,
        keyId: view.id,
        fingerprint: view.fingerprint,
        source: `import-env ${variable}`,
      });
    }
    imported.push({ provider: provider.id, variable, ids, skipped });
  }
  const counts = (i: (typeof imported)[number]) =>
    `${i.provider}: imported ${i.ids.length} key(s) from ${i.variable}${i.skipped ? ` (${i.skipped} skipped: already stored or enc:)` : ''}`;
  if (writeConfig !== undefined) {
    const { file } = writeEnvConfig(writeConfig, io.env);
    const variables = imported.map((i) => i.variable).join(', ');
    const text = [
      ...imported.map(counts),
      `wrote ${file}: its providers read their keys from the store`,
      `next: keyward start --config ${file}${variables && `, then delete ${variables} from the environment`}`,
    ].join('\n');
    print(io, json, { imported, configFile: file }, text);
    return 0;
  }
  const lines = imported.map(
    (i) =>
      `${counts(i)}\n` +
      `  next: set providers[id=${i.provider}].keys to { store: true } in ${ctx.source}, then delete ${i.variable} from the environment`,
  );
  print(io, json, { imported }, lines.join('\n') || 'no provider takes plain keys from the environment');
  return 0;
}
