import cluster from 'node:cluster';
import { ConfigError, loadConfig } from '../config/index.js';
import { createGateway, type Gateway, StoreOpenError } from '../gateway/index.js';
import { ListenError } from '../http/listen.js';
import { limitHeapGrowth } from './heap-growth.js';
import { type CliIO, reportFailure } from './io.js';
import { rereadConfig } from './reread-config.js';
import { announceListening, configFromPrimary, runPrimary, workerCount, workerSide } from './workers.js';

export interface StartOptions {
  config?: string | undefined;
  dataDir?: string | undefined;
  /** `--workers N|auto`: N processes on the same ports (see runPrimary). */
  workers?: string | undefined;
  /** `--json`: a failed start is `{"error":{"message","exitCode"}}` on stderr. */
  json?: boolean | undefined;
}

/** Runs the gateway until SIGTERM or SIGINT, then drains and exits 0. */
export async function start(options: StartOptions, io: CliIO): Promise<number> {
  if (!cluster.isWorker) return serve(options, io);
  let code = 1;
  try {
    code = await serve(options, io);
    return code;
  } finally {
    // A worker's IPC channel would keep it alive however its start ended, and the primary is
    // waiting for it to exit. Disconnecting through the cluster worker keeps the exit code. With
    // the primary gone there is no one to wait for, and nothing else may keep the worker alive.
    process.exitCode = code;
    if (process.connected) cluster.worker?.disconnect();
    else process.exit(code);
  }
}

async function serve(options: StartOptions, io: CliIO): Promise<number> {
  let gateway: Gateway;
  let handoff: Awaited<ReturnType<typeof configFromPrimary>>;
  try {
    const count = cluster.isPrimary ? workerCount(options.workers) : undefined;
    if (count !== undefined && count > 1) return await runPrimary(options, count, io);
    handoff = await configFromPrimary();
    const { config, source } = loadConfig({ file: options.config, env: io.env, text: handoff?.started });
    limitHeapGrowth();
    const worker = workerSide(config.rateLimits.backend);
    gateway = await createGateway({
      config,
      source,
      env: io.env,
      dataDir: options.dataDir,
      writerThread: true,
      portsBeforeMigrating: true,
      ...(worker && { worker }),
    });
  } catch (error) {
    if (error instanceof ConfigError) return reportFailure(io, options.json, error.message, 2);
    // The configuration is valid; the database it names is down, or holds nothing usable.
    if (error instanceof StoreOpenError) return reportFailure(io, options.json, error.message, 1);
    // A port taken, found before the store was migrated (portsBeforeMigrating).
    if (error instanceof ListenError) return reportFailure(io, options.json, error.message, 1);
    throw error;
  }

  try {
    await gateway.listen();
  } catch (error) {
    if (!(error instanceof ListenError)) throw error;
    gateway.logger.fatal({ code: error.code }, error.message);
    const code = reportFailure(io, options.json, error.message, 1);
    await gateway.close(0);
    return code;
  }
  announceListening();
  /** Reads `text` (or the file) and applies it; one that does not load leaves the gateway as it is. */
  const reload = (text?: string) => {
    const next = rereadConfig({ file: options.config, env: io.env, text }, gateway.logger);
    if (!next) return;
    gateway
      .reload(next.config)
      .catch((error: unknown) => gateway.logger.error({ err: error }, 'reload failed'));
  };
  if (handoff) {
    // What the other workers reloaded since the instance started (or while this one started),
    // this one applies as they did.
    if (handoff.current !== handoff.started) reload(handoff.current);
    handoff.onReload(reload);
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal?: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      gateway.logger.info(signal ? { signal } : {}, 'shutting down: draining in-flight requests');
      // A failed close has logged why (Gateway.close).
      gateway.close().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    // The primary gone (killed, out of memory): Node's cluster ends a worker at once when its
    // channel closes unasked, cutting its streams and losing the usage it had not yet written (and
    // the spend budgets reload from it). It stops as at SIGTERM instead; the limiter it asked is
    // gone, so it admits nothing more (fail closed), and what it still tells the primary is dropped.
    const worker = cluster.worker;
    // A message sent once the channel has closed is reported as an 'error' event on the process,
    // which the cluster passes on to its worker, where without a listener it ends the process: a
    // timer's report in the moment between the channel closing and its 'disconnect' event, or
    // what the worker tells the primary while it drains.
    worker?.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ERR_IPC_CHANNEL_CLOSED') throw error;
    });
    worker?.on('disconnect', () => {
      if (worker.exitedAfterDisconnect) return;
      worker.exitedAfterDisconnect = true;
      gateway.logger.error({}, 'the primary process is gone: this worker drains and exits');
      stop();
    });
    // SIGHUP re-reads the configuration and applies what needs no new listener (Gateway.reload).
    // A worker's come from the primary, which reads the file for all of them: one sent to a whole
    // process group is the primary's to act on, and would otherwise end the worker.
    process.on('SIGHUP', () => {
      if (!stopping && !handoff) reload();
    });
  });
}
