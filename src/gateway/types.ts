import type { DestinationStream } from 'pino';
import type { Config } from '../config/index.js';
// From their own files, not the limits folder's index: these declarations are the package's
// (src/index.ts), and what they import a consumer's compiler reads, through the index down to
// the store's, which name the database drivers' types.
import type { IpcChannel } from '../limits/ipc-limiter.js';
import type { Limiter } from '../limits/types.js';
import type { Logger, Metrics, Redactor } from '../observability/index.js';
import type { AnswerMemory } from '../upstream/answer-memory.js';

export interface GatewayOptions {
  config: Config;
  /** Where the configuration came from, for error messages. */
  source?: string;
  env?: NodeJS.ProcessEnv;
  /** `--data-dir`; else KEYWARD_DATA_DIR, else ./.keyward. */
  dataDir?: string;
  /** Log sink (tests capture lines here); defaults to stdout. */
  logDestination?: DestinationStream;
  /**
   * On SQLite, seal and write audit records and stored responses on a worker thread
   * (`writerThread`) rather than on the event loop that serves requests. `keyward start` does; the
   * worker is compiled JavaScript, so a gateway run from the TypeScript sources (the in-process
   * tests) writes on its own thread.
   */
  writerThread?: boolean;
  /**
   * Whether the listeners' ports are tried before a pending migration: `keyward start` listens as
   * soon as the gateway is built, and a start refused for a port taken must leave the store as it
   * found it. A gateway built to listen later (or never) is not refused for a port.
   */
  portsBeforeMigrating?: boolean;
  /**
   * Set in a worker of `keyward start --workers N`: the primary announced the instance (workers
   * do not), with the memory backend `limiter` asks the primary, so limits hold across workers,
   * and key health is shared with the other workers over `channel`. `answerFlushes` has this
   * worker write its usage when the primary asks, before it reads a budget's spend.
   */
  worker?: {
    limiter: Limiter | undefined;
    channel: IpcChannel;
    answerFlushes?(usage: { written(): Promise<void> }): void;
  };
  /**
   * The account of the providers' whole answers held at once (`AnswerMemory`). By default the
   * process's, which every gateway in the process shares, since they share its memory; a test
   * gives one of its own, with a bound it can reach, to watch it.
   */
  answers?: AnswerMemory;
}

export interface Gateway {
  logger: Logger;
  metrics: Metrics;
  redactor: Redactor;
  /**
   * Starts both listeners; resolves with their base URLs. Rejects (a ListenError for a port in
   * use) with neither listening; close() still releases the rest.
   */
  listen(): Promise<{ dataUrl: string; adminUrl: string }>;
  /**
   * Applies a re-read configuration (SIGHUP): providers whose `keys` block changed load from the
   * new source, the others refresh theirs. Other changes need a restart, and a warning says so.
   */
  reload(config: Config): Promise<void>;
  /**
   * Stops accepting, lets in-flight requests and streams finish for up to `graceMs`, then cuts
   * what is left and releases upstream connections. The usage and audit records still in memory
   * are written, waiting for a store that refuses them until `graceMs` (from the call) is over. A
   * failure is logged ('error during shutdown', naming what was lost) before it is thrown.
   */
  close(graceMs?: number): Promise<void>;
}
