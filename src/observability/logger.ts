import { type DestinationStream, type LevelWithSilent, type Logger, pino } from 'pino';
import type { Redactor } from './redact.js';

export type { Logger } from 'pino';

const BATCH_BYTES = 8192;
const FLUSH_MS = 250;

export interface LoggerOptions {
  level: LevelWithSilent;
  redactor: Redactor;
  /** Where redacted lines go; defaults to an asynchronous stdout writer. */
  destination?: DestinationStream;
}

export interface GatewayLogger {
  logger: Logger;
  /** Writes out buffered lines; call before the process exits. */
  flush(): void;
}

/**
 * A pino logger whose every serialized line passes through the redactor, so that no code path
 * (request logs, error objects, third-party messages) can write a secret.
 */
export function createLogger(options: LoggerOptions): GatewayLogger {
  const { redactor } = options;
  let sink = options.destination;
  let timer: NodeJS.Timeout | undefined;
  if (!sink) {
    // Writing each line on its own costs a thread-pool round trip per request; batching lines and
    // flushing at least every FLUSH_MS keeps the hot path cheap and the log timely.
    const stdout = pino.destination({ dest: 1, sync: false, minLength: BATCH_BYTES });
    timer = setInterval(() => stdout.flush(), FLUSH_MS).unref();
    sink = stdout;
  }
  const destination = sink;
  const redacting: DestinationStream = {
    write(line: string) {
      destination.write(redactor.redact(line));
    },
  };
  const logger = pino(
    {
      level: options.level,
      base: { service: 'keyward' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    redacting,
  );
  return {
    logger,
    flush() {
      clearInterval(timer);
      const flushable = destination as DestinationStream & { flushSync?: () => void };
      try {
        flushable.flushSync?.();
      } catch {
        // sonic-boom throws when nothing is buffered or the fd is not ready; nothing to lose then.
      }
    },
  };
}
