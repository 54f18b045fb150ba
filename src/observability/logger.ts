import { type DestinationStream, type LevelWithSilent, type Logger, pino } from 'pino';
import { LineBatcher } from './line-batcher.js';
import type { Redactor } from './redact.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level: LevelWithSilent;
  redactor: Redactor;
  /** Where redacted lines go; defaults to batched writes to stdout. */
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
  const batcher = options.destination ? undefined : new LineBatcher(1);
  const destination: DestinationStream = options.destination ?? batcher!;
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
      batcher?.flush();
    },
  };
}
