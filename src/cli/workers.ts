import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { ConfigError, dataPaths, loadConfig } from '../config/index.js';
import {
  AuthFailureTally,
  announce,
  GatherRelay,
  GuessTally,
  isKeyStateMessage,
  openStore,
  refusalsBeforeMigrating,
  StoreOpenError,
  sealingKeyId,
  storedSpend,
  storeFaultAtStart,
  TokenTrafficTally,
} from '../gateway/index.js';
import { ListenError } from '../http/listen.js';
import {
  createIpcLimiter,
  createMemoryLimiter,
  type IpcChannel,
  ipcMessage,
  type Limiter,
  refusingUnwritten,
  serveLimiter,
} from '../limits/index.js';
import { createLogger, Redactor } from '../observability/index.js';
import { type CliIO, reportFailure } from './io.js';
import { rereadConfig } from './reread-config.js';
import { answerUsageFlushes, WorkerUsage } from './usage-flush.js';

/** A worker that dies this soon after it started is crash-looping: it is restarted ever later. */
const QUICK_DEATH_MS = 10_000;
const MAX_RESTART_DELAY_MS = 30_000;

/** `--workers N` or `auto` (one per core); undefined when the flag is absent. */
export function workerCount(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (value === 'auto') return availableParallelism();
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1 || count > 256)
    throw new ConfigError('--workers', [
      `--workers must be auto or a whole number from 1 to 256 (got '${value.slice(0, 16)}')`,
    ]);
  return count;
}

/** What a worker sends the primary once its listeners are up. */
interface ListeningMessage {
  keyward: 'listening';
}

/** In a worker process, once it serves: the primary then knows the start succeeded. */
export function announceListening(): void {
  if (cluster.isWorker) process.send?.({ keyward: 'listening' } satisfies ListeningMessage);
}

const isListening = ipcMessage<ListeningMessage>('listening');

/**
 * The configuration file's text as the primary read it: the one the instance started with, and
 * the one the last reload applied. Undefined without a file (the environment is every process's).
 */
export interface ConfigHandoff {
  started: string | undefined;
  current: string | undefined;
}

interface ConfigAsk {
  keyward: 'config?';
}
type ConfigAnswer = ConfigHandoff & { keyward: 'config' };
/** A reload the primary read and loaded: every worker applies the same text. */
interface ReloadMessage {
  keyward: 'reload';
  text: string | undefined;
}

const isConfigAsk = ipcMessage<ConfigAsk>('config?');
const isConfigAnswer = ipcMessage<ConfigAnswer>('config');
const isReload = ipcMessage<ReloadMessage>('reload');

/**
 * In a worker process: the configuration to start from, asked of the primary. A worker that
 * replaces one that died starts from what the others started with and then applies what they
 * reloaded since, however the file has changed meanwhile (a change they would take only at a
 * restart, or a file that no longer loads). Undefined in a process of its own.
 */
export async function configFromPrimary(): Promise<PrimaryConfig | undefined> {
  if (!cluster.isWorker) return undefined;
  const config = new PrimaryConfig();
  await config.asked;
  return config;
}

/**
 * The primary's configuration as a worker holds it. A reload that arrives while the gateway is
 * still starting is kept in `current`, which the worker applies once it serves, and each later
 * one goes to `onReload`'s handler: listening only once the gateway served lost a reload sent
 * meanwhile, and the worker ran apart from the others.
 */
class PrimaryConfig implements ConfigHandoff {
  started: string | undefined;
  current: string | undefined;
  readonly asked: Promise<void>;
  private apply: ((text: string | undefined) => void) | undefined;

  constructor() {
    this.asked = new Promise((resolve) => {
      process.on('message', (message: unknown) => {
        if (isConfigAnswer(message)) {
          [this.started, this.current] = [message.started, message.current];
          resolve();
        } else if (isReload(message)) {
          this.current = message.text;
          this.apply?.(message.text);
        }
      });
    });
    process.send?.({ keyward: 'config?' } satisfies ConfigAsk);
  }

  /** From now on each reload the primary sends goes to `apply`. */
  onReload(apply: (text: string | undefined) => void): void {
    this.apply = apply;
  }
}

/** In a worker process: what the gateway needs to act as one worker of several. */
export function workerSide(backend: 'memory' | 'redis'):
  | {
      limiter: Limiter | undefined;
      channel: IpcChannel;
      answerFlushes(usage: { written(): Promise<void> }): void;
    }
  | undefined {
  if (!cluster.isWorker) return undefined;
  const channel = process as unknown as IpcChannel;
  return {
    limiter: backend === 'memory' ? createIpcLimiter(channel) : undefined,
    channel,
    answerFlushes: (usage) => answerUsageFlushes(channel, usage),
  };
}

/**
 * `keyward start --workers N`: this process forks N workers that serve on the same ports (the
 * cluster shares the listening sockets) and does no request work itself. It announces the
 * instance in the store, holds the one memory rate limiter the workers ask (so limits and budgets
 * stay exact without Redis), passes on what each worker learns of key health, replaces a worker that dies (backing off when one keeps dying),
 * reads the configuration for every worker (at start and at SIGHUP; see `ConfigHandoff`), and on
 * SIGTERM or SIGINT lets every worker drain and exit.
 * A worker that exits before any worker has served means the start failed (a port in use, say),
 * which every worker would repeat: the primary then stops and exits with the worker's code, as
 * one process would.
 */
export async function runPrimary(
  options: { config?: string | undefined; dataDir?: string | undefined; json?: boolean | undefined },
  count: number,
  io: CliIO,
): Promise<number> {
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig({ file: options.config, env: io.env });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return reportFailure(io, options.json, error.message, 2);
  }
  const { config, source } = loaded;
  /** The file's text the workers run with: as started, then as each reload that loaded left it. */
  const handoff: ConfigHandoff = { started: loaded.text, current: loaded.text };
  const { logger, flush } = createLogger({
    level: config.logging.level,
    redactor: new Redactor([]),
    pretty: false,
  });
  const paths = dataPaths(config, io.env, options.dataDir);
  let store: Awaited<ReturnType<typeof openStore>>;
  try {
    // The workers listen once forked: a port taken is told here, before the store is migrated.
    store = await openStore(config, paths, logger, refusalsBeforeMigrating(config, source, { ports: true }));
  } catch (error) {
    if (error instanceof ConfigError) return reportFailure(io, options.json, error.message, 2);
    if (!(error instanceof StoreOpenError || error instanceof ListenError)) throw error;
    return reportFailure(io, options.json, error.message, 1);
  }
  let instance: Awaited<ReturnType<typeof announce>>;
  try {
    instance = await announce(store, config, source, logger, await sealingKeyId(io.env, paths, store));
  } catch (error) {
    await store.close();
    const failure = storeFaultAtStart(error, config, paths);
    if (failure instanceof StoreOpenError) return reportFailure(io, options.json, failure.message, 1);
    if (!(error instanceof ConfigError)) throw error;
    return reportFailure(io, options.json, error.message, 2);
  }
  // A budget's spend is read once every worker has written the usage it holds (see usage-flush.ts).
  const workerUsage = new WorkerUsage(logger);
  const limiter =
    config.rateLimits.backend === 'memory'
      ? refusingUnwritten(createMemoryLimiter({ spentBefore: storedSpend(store, () => workerUsage.flush()) }))
      : undefined;

  cluster.setupPrimary({ exec: process.argv[1]!, args: process.argv.slice(2) });
  const workers = new Map<number, Worker>();
  let stopping = false;
  let served = false;
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  const shutdown = (code: number) => {
    if (stopping) return;
    stopping = true;
    const exits = [...workers.values()].map(
      (worker) =>
        new Promise<void>((done) => {
          worker.once('exit', () => done());
          // A signal, not worker.kill(): the IPC channel stays open while the worker drains.
          worker.process.kill('SIGTERM');
        }),
    );
    Promise.all(exits)
      .then(async () => {
        await limiter?.close();
        await instance.close();
        await store.close();
        return code;
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, 'error during shutdown');
        return 1;
      })
      .then((exitCode) => {
        // The process exits next: the lines still buffered would be lost.
        flush();
        finish(exitCode);
      });
  };
  // Metrics, the dashboard's live hour and alerts are each worker's: an admin call gathers them all.
  const relay = new GatherRelay(() => workers.values());
  // Failed authentications are counted across workers, so a burst alerts at the configured rate.
  const authFailures = new AuthFailureTally();
  // And so are guesses, so a client's connections spread over the workers meet one limit.
  const guesses = new GuessTally(config.rateLimits.perIp.failuresPerMinute, () => workers.values());
  // So are tokens' requests and spend, so a token's spike alerts as it would in one process.
  const tokenTraffic = new TokenTrafficTally();
  const fork = (index: number, delayMs: number) => {
    const startedAt = Date.now() + delayMs;
    setTimeout(() => {
      if (stopping) return;
      const worker = cluster.fork({ KEYWARD_WORKER_INDEX: String(index) });
      workers.set(index, worker);
      // A message sent to a worker whose channel has just closed (a limiter answer, a key-state
      // note, a gather) is reported as an 'error' event: unheard, it would end the primary, and
      // every worker with it. The worker is gone; its 'exit' starts another.
      worker.on('error', (error) =>
        logger.warn({ worker: index, err: error }, `a message to worker ${index} was lost: it is exiting`),
      );
      if (limiter) {
        const served = serveLimiter(limiter, worker);
        // Once its channel is closed (disconnect or exit, whichever comes first) its requests in
        // flight can no longer settle: their slots are freed, each charged its reservation.
        const ended = () =>
          served.ended().then(
            (count) => {
              if (count > 0)
                logger.warn(
                  { worker: index, requests: count },
                  `worker ${index} ended with ${count === 1 ? '1 request' : `${count} requests`} in flight: ` +
                    'their concurrency slots are freed and each is charged its reservation',
                );
            },
            (error: unknown) =>
              logger.error(
                { worker: index, err: error },
                `settling worker ${index}'s requests in flight failed`,
              ),
          );
        worker.once('disconnect', ended);
        worker.once('exit', ended);
        workerUsage.attach(worker, index);
      }
      relay.attach(worker);
      authFailures.attach(worker);
      guesses.attach(worker);
      tokenTraffic.attach(worker);
      worker.on('message', (message: unknown) => {
        if (isListening(message)) {
          served = true;
          return;
        }
        if (isConfigAsk(message)) {
          worker.send({ keyward: 'config', ...handoff } satisfies ConfigAnswer);
          return;
        }
        // A key one worker found throttled or refused is news for the others.
        if (!isKeyStateMessage(message)) return;
        for (const other of workers.values())
          if (other !== worker && other.isConnected()) other.send(message);
      });
      worker.on('exit', (code, signal) => {
        workers.delete(index);
        if (stopping) return;
        if (!served) {
          // The worker has said why on stderr; restarting it would only say it again. Its exit code
          // (1 for a listener, 2 for the configuration) is the primary's, as for one process.
          logger.fatal({ worker: index, code, signal }, `worker ${index} could not start; stopping`);
          shutdown(code || 1);
          return;
        }
        const quick = Date.now() - startedAt < QUICK_DEATH_MS;
        const next = quick ? Math.min(Math.max(delayMs * 2, 1_000), MAX_RESTART_DELAY_MS) : 0;
        logger.error(
          { worker: index, pid: worker.process.pid, code, signal },
          `worker ${index} exited; starting another${next ? ` in ${next / 1000} s` : ''}`,
        );
        fork(index, next);
      });
    }, delayMs);
  };
  for (let index = 0; index < count; index++) fork(index, 0);
  logger.info({ workers: count, limits: config.rateLimits.backend }, `started ${count} workers`);

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    logger.info({ signal }, 'shutting down: every worker drains its requests');
    shutdown(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // The primary reads the file once for all workers and keeps what loaded: workers reading it
  // each for themselves could disagree, and one started later could not start at all from a
  // file that no longer loads.
  process.on('SIGHUP', () => {
    const next = rereadConfig({ file: options.config, env: io.env }, logger);
    if (!next) return;
    handoff.current = next.text;
    for (const worker of workers.values())
      if (worker.isConnected()) worker.send({ keyward: 'reload', text: next.text } satisfies ReloadMessage);
  });
  return finished;
}
