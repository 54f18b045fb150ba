import { existsSync, statSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { type Config, ConfigError, type DataPaths, dataPaths, loadConfig } from '../config/index.js';
import { within } from '../errors/deadline.js';
import { sourceFor } from '../forward/provider-runtime.js';
import { postgresOptions, storeLocation } from '../gateway/index.js';
import { adminKeyHashes } from '../gateway/secrets.js';
import {
  inspectPostgresStore,
  openPostgresStore,
  type SchemaState,
  StoreUnreachableError,
  schemaProblem,
  sqliteSchemaVersion,
} from '../store/index.js';
import {
  CliError,
  type ConfiguredStore,
  connectConfigured,
  type OfflineContext,
  type OfflineOptions,
  openSealed,
} from './context.js';
import { type CliIO, terminalSafe } from './io.js';

type Status = 'ok' | 'warn' | 'fail';

/** One finding: what was checked, how it stands, and what to do when it is not ok. */
export interface Check {
  name: string;
  status: Status;
  detail: string;
  fix?: string;
}

/** How long any one network check may take: doctor answers in seconds, whatever is down. */
const TIMEOUT_MS = 2_000;

const ok = (name: string, detail: string): Check => ({ name, status: 'ok', detail });
const warn = (name: string, detail: string, fix: string): Check => ({ name, status: 'warn', detail, fix });
const fail = (name: string, detail: string, fix: string): Check => ({ name, status: 'fail', detail, fix });

/** Names of this host's own addresses, as a baseUrl may write them. */
const isLoopback = (host: string): boolean =>
  /^(?:localhost\.?|127(?:\.\d{1,3}){3}|\[?::1\]?|\[?::ffff:127(?:\.\d{1,3}){3}\]?|0\.0\.0\.0|\[?::\]?)$/i.test(
    host,
  );

/** Rejects after TIMEOUT_MS with `what` timed out: a check never waits on a silent host. */
const answered = <T>(what: string, work: Promise<T>): Promise<T> =>
  within(work, TIMEOUT_MS, () => new Error(`${what} did not answer within ${TIMEOUT_MS / 1000} s`));

/** Whether the file's mode lets anyone but its owner read it. */
const othersRead = (path: string): boolean => (statSync(path).mode & 0o077) !== 0;

function dataChecks(config: Config, io: CliIO, paths: DataPaths): Check[] {
  const checks: Check[] = [];
  const masterFromEnv = Boolean(io.env.KEYWARD_MASTER_KEY || io.env.KEYWARD_MASTER_PASSPHRASE);
  const inDataDir = (path: string) => path.startsWith(`${paths.dataDir}/`);
  // Postgres with the master key elsewhere needs no data directory at all.
  const needed =
    (!config.storage.postgres && inDataDir(paths.database)) ||
    (!masterFromEnv && inDataDir(paths.masterKeyFile));
  if (!existsSync(paths.dataDir)) {
    if (needed) checks.push(fail('data directory', `${paths.dataDir} does not exist`, 'run keyward init'));
  } else if (othersRead(paths.dataDir)) {
    checks.push(
      warn('data directory', `${paths.dataDir} is open to other users`, `chmod 700 ${paths.dataDir}`),
    );
  } else {
    checks.push(ok('data directory', paths.dataDir));
  }
  if (masterFromEnv) {
    checks.push(ok('master key', 'from the environment'));
  } else if (!existsSync(paths.masterKeyFile)) {
    checks.push(
      fail(
        'master key',
        `${paths.masterKeyFile} does not exist`,
        'run keyward init, or set KEYWARD_MASTER_KEY to the key the store was sealed with',
      ),
    );
  } else if (othersRead(paths.masterKeyFile)) {
    checks.push(
      fail(
        'master key',
        `${paths.masterKeyFile} is readable by other users`,
        `chmod 600 ${paths.masterKeyFile}`,
      ),
    );
  } else {
    checks.push(ok('master key', paths.masterKeyFile));
  }
  if (!config.storage.postgres && !existsSync(paths.database))
    checks.push(fail('store', `no store at ${paths.database}`, 'run keyward init'));
  return checks;
}

/** An empty store is no failure: start or a copy fills it. */
const NO_STORE_YET = 'holds no store yet: keyward start creates it, or keyward store copy fills it';

/**
 * The store's schema as it stands, read without writing: opening the store would migrate it (an
 * older gateway may still use it) or create one (in the database `keyward store copy` is about to
 * fill, which then refused).
 */
async function schemaOf(config: Config, paths: DataPaths): Promise<SchemaState> {
  const postgres = config.storage.postgres;
  return postgres ? inspectPostgresStore(postgresOptions(postgres)) : sqliteSchemaVersion(paths.database);
}

/** The store opened as it is, on Postgres on connections that cannot write. */
async function openAsIs(config: Config, source: string, paths: DataPaths): Promise<ConfiguredStore> {
  const postgres = config.storage.postgres;
  if (!postgres) return connectConfigured({ config, source, paths });
  return {
    config,
    source,
    paths,
    store: await openPostgresStore({ ...postgresOptions(postgres), poolSize: 2, readOnly: true }),
  };
}

/** The store opened with the master key (the audit key sealed in it must open), or why not. */
async function openChecked(
  io: CliIO,
  config: Config,
  source: string,
  paths: DataPaths,
): Promise<{ check: Check; ctx?: OfflineContext }> {
  const where = storeLocation(config, paths);
  const unreadable = (error: unknown) => ({
    check: fail(
      'store',
      `${error instanceof StoreUnreachableError ? 'cannot reach ' : ''}${where}: ${(error as Error).message}`,
      'check storage in the configuration, and that the database is up',
    ),
  });
  let state: SchemaState;
  try {
    state = await schemaOf(config, paths);
  } catch (error) {
    return unreadable(error);
  }
  const problem = schemaProblem(state);
  if (problem) return { check: fail('store', `${where}: ${problem.problem}`, problem.fix) };
  const { version, latest } = state;
  if (version === 0) return { check: ok('store', `${where} ${NO_STORE_YET}`) };
  if (version < latest)
    return {
      check: warn(
        'store',
        `${where} is at schema ${version} of ${latest}; the checks that read it were skipped`,
        'run keyward migrate (keyward start does it too), then keyward doctor again',
      ),
    };
  let opened: ConfiguredStore;
  try {
    opened = await openAsIs(config, source, paths);
  } catch (error) {
    return unreadable(error);
  }
  try {
    // A schema without a sealed audit key (`keyward migrate` alone made it): opening it with the
    // master key would seal one there.
    if ((await opened.store.meta.get('audit_key')) === undefined) {
      await opened.store.close();
      return { check: ok('store', `${where}, schema current, ${NO_STORE_YET}`) };
    }
    const ctx = await openSealed(opened, io);
    return { check: ok('store', `${where}, schema current, opened with the master key`), ctx };
  } catch (error) {
    await opened.store.close();
    if (!(error instanceof CliError)) throw error;
    return {
      check: fail(
        'master key',
        error.message,
        'use the master key this store was sealed with (file or KEYWARD_MASTER_KEY)',
      ),
    };
  }
}

async function adminCheck(ctx: OfflineContext, io: CliIO): Promise<Check> {
  if (io.env.KEYWARD_ADMIN_KEY) return ok('admin key', 'KEYWARD_ADMIN_KEY is set');
  const hashes = await adminKeyHashes(ctx.store);
  return hashes.length > 0
    ? ok('admin key', `${hashes.length} stored (from keyward init)`)
    : warn('admin key', 'none: the admin API answers 401', 'run keyward init, or set KEYWARD_ADMIN_KEY');
}

/** Whether a provider's key source gives it a key; never names a key's value. */
async function keyCheck(
  provider: Config['providers'][number],
  ctx: OfflineContext,
  io: CliIO,
): Promise<Check> {
  const name = `provider ${provider.id} keys`;
  if (!provider.keys) return ok(name, 'none configured: sent no key');
  if ('passthrough' in provider.keys) return ok(name, 'passthrough: each client sends its own');
  const warnings: string[] = [];
  const source = sourceFor(provider, {
    env: io.env,
    store: ctx.store,
    masters: () => ctx.masters,
    warn: (message) => warnings.push(message),
  });
  if (!source) return ok(name, 'none configured: sent no key');
  // Aborted once the check ends: a read still waiting on a silent manager kept the process alive.
  const reading = new AbortController();
  try {
    const keys = await answered(`the ${source.kind} source`, source.load(reading.signal));
    return keys.length > 0
      ? ok(name, `${keys.length} from ${source.describe}`)
      : fail(
          name,
          `no usable key in ${source.describe}${warnings[0] ? ` (${warnings[0]})` : ''}`,
          'add one (keyward keys add, or set the variable) before starting',
        );
  } catch (error) {
    const { message } = error as Error;
    const detail = message.includes(source.describe) ? message : `${source.describe}: ${message}`;
    // The load failed: the credential, the access or the address is what the detail names.
    return fail(name, detail, `fix what the detail names, or change providers[${provider.id}].keys`);
  } finally {
    reading.abort();
    await source.close?.();
  }
}

/** Opens a connection to the provider's host (TLS for https) and closes it: no request, no key is sent. */
async function reachCheck(provider: Config['providers'][number], config: Config): Promise<Check> {
  const name = `provider ${provider.id} reachable`;
  const url = new URL(provider.baseUrl);
  const secure = url.protocol === 'https:';
  const port = Number(url.port || (secure ? 443 : 80));
  const host = url.hostname;
  const own = host === config.server.host || (isLoopback(host) && isLoopback(config.server.host));
  if (own && port === config.server.port)
    return fail(
      name,
      `${provider.baseUrl} is this gateway's own data listener: every request would loop back`,
      `point providers[${provider.id}].baseUrl at the provider's API (is a *_BASE_URL variable set to the gateway's address?)`,
    );
  try {
    await answered(
      `${host}:${port}`,
      new Promise<void>((resolve, reject) => {
        const socket = secure
          ? tlsConnect({ host, port, servername: host.startsWith('[') ? undefined : host }, () => {
              socket.destroy();
              resolve();
            })
          : tcpConnect({ host: host.replace(/^\[|\]$/g, ''), port }, () => {
              socket.destroy();
              resolve();
            });
        socket.once('error', reject);
        socket.setTimeout(TIMEOUT_MS, () => socket.destroy(new Error('timed out')));
      }),
    );
    return ok(name, `${url.origin} accepts connections`);
  } catch (error) {
    return fail(
      name,
      `${url.origin}: ${(error as Error).message}`,
      `check providers[${provider.id}].baseUrl, the network and the provider's status`,
    );
  }
}

async function redisCheck(url: string): Promise<Check> {
  // Loaded only when Redis is configured, as the gateway does (about 20 MB).
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: TIMEOUT_MS });
  redis.on('error', () => undefined);
  const where = new URL(url).host;
  try {
    await answered(
      `redis ${where}`,
      redis.connect().then(() => redis.ping()),
    );
    return ok('redis', `${where} answers`);
  } catch (error) {
    return fail('redis', `${where}: ${(error as Error).message}`, 'start Redis, or check storage.redis.url');
  } finally {
    redis.disconnect();
  }
}

/** Whether the listener's port is free; one in use most likely means a gateway runs there already. */
function portCheck(name: string, host: string, port: number): Promise<Check> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) =>
      resolve(
        error.code === 'EADDRINUSE'
          ? warn(
              name,
              `${host}:${port} is in use (a gateway may be running there)`,
              'stop it, or move the port',
            )
          : fail(name, `${host}:${port}: ${error.message}`, 'change the host or port in the configuration'),
      ),
    );
    server.listen({ host, port, exclusive: true }, () =>
      server.close(() => resolve(ok(name, `${host}:${port} free`))),
    );
  });
}

const MARK: Record<Status, string> = { ok: '✓', warn: '!', fail: '✗' };

function print(io: CliIO, json: boolean, checks: readonly Check[]): void {
  const healthy = checks.every((check) => check.status !== 'fail');
  if (json) {
    io.stdout.write(`${JSON.stringify({ ok: healthy, checks })}\n`);
    return;
  }
  const width = Math.max(...checks.map((check) => check.name.length));
  for (const check of checks) {
    io.stdout.write(`${MARK[check.status]} ${check.name.padEnd(width)}  ${terminalSafe(check.detail)}\n`);
    if (check.fix) io.stdout.write(`  ${' '.repeat(width)}  → ${terminalSafe(check.fix)}\n`);
  }
  const failed = checks.filter((check) => check.status === 'fail').length;
  const warned = checks.filter((check) => check.status === 'warn').length;
  io.stdout.write(
    failed > 0
      ? `${failed} problem(s) to fix before starting\n`
      : `ready to start${warned > 0 ? ` (${warned} warning(s))` : ''}\n`,
  );
}

/**
 * `keyward doctor`: checks what `keyward start` will need, from where it would run, without
 * sending a request or a key to any provider. The store is read, never written: one behind this
 * Keyward's schema is reported, not migrated, an empty one not created, and a damaged one (tables
 * its recorded version has are missing) is a failure. Exit 0 when nothing failed, 1 otherwise.
 */
export async function doctorCommand(options: OfflineOptions, io: CliIO, json: boolean): Promise<number> {
  let config: Config;
  let source: string;
  try {
    ({ config, source } = loadConfig({ file: options.config, env: io.env }));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    print(io, json, [fail('configuration', error.message, 'fix each problem listed')]);
    return 1;
  }
  const checks: Check[] = [ok('configuration', source)];
  const paths = dataPaths(config, io.env, options.dataDir);
  const data = dataChecks(config, io, paths);
  checks.push(...data);
  const network = Promise.all([
    ...config.providers.map((provider) => reachCheck(provider, config)),
    ...(config.storage.redis ? [redisCheck(config.storage.redis.url)] : []),
    portCheck('data listener', config.server.host, config.server.port),
    portCheck('admin listener', config.admin.host, config.admin.port),
  ]);
  if (data.every((check) => check.status !== 'fail')) {
    const { check, ctx } = await openChecked(io, config, source, paths);
    checks.push(check);
    if (ctx) {
      try {
        checks.push(await adminCheck(ctx, io));
        checks.push(...(await Promise.all(config.providers.map((provider) => keyCheck(provider, ctx, io)))));
      } finally {
        await ctx.close();
      }
    }
  }
  checks.push(...(await network));
  print(io, json, checks);
  return checks.some((check) => check.status === 'fail') ? 1 : 0;
}
