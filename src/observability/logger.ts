import { type DestinationStream, type LevelWithSilent, type Logger, pino } from 'pino';
import { LineBatcher } from './line-batcher.js';
import { prettyLine } from './pretty.js';
import type { Redactor } from './redact.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level: LevelWithSilent;
  redactor: Redactor;
  /** Where redacted lines go; defaults to batched writes to stdout. */
  destination?: DestinationStream;
  /** Readable lines instead of JSON (see pretty.ts); JSON costs nothing extra when this is off. */
  pretty?: boolean;
}

export interface GatewayLogger {
  logger: Logger;
  /** Writes out buffered lines; call before the process exits. */
  flush(): void;
}

/**
 * pino's `isoTime` at a fraction of the cost (`toISOString` per line was ~4 µs of a request's CPU
 * under load): the date and time to the second are formatted once per second.
 */
export function isoTimestamp(now: () => number = Date.now): () => string {
  let second = Number.NaN;
  let prefix = '';
  return () => {
    const ms = now();
    const whole = Math.floor(ms / 1000);
    if (whole !== second) {
      second = whole;
      // YYYY-MM-DDTHH:MM:SS.
      prefix = `,"time":"${new Date(whole * 1000).toISOString().slice(0, 20)}`;
    }
    const fraction = ms - whole * 1000;
    return `${prefix}${fraction < 10 ? '00' : fraction < 100 ? '0' : ''}${fraction}Z"`;
  };
}

/** An error's fields a log line may carry, its causes' included; at most this many deep. */
export const MAX_CAUSES = 4;

/**
 * What a log line keeps of an error: its kind, words, codes and stack, never the other fields a
 * library hangs on it. ioredis attaches the failed command with its arguments (`AUTH user
 * password` when a login fails), drivers attach query parameters and response bodies: pino's own
 * serializer copied them all, and a password shorter than the redactor takes as a literal
 * reached the log.
 */
export function errorFields(error: unknown, depth = 0): unknown {
  if (!(error instanceof Error)) return error;
  const { code, errno, syscall } = error as NodeJS.ErrnoException;
  const cause = (error as { cause?: unknown }).cause;
  return {
    type: error.name,
    message: error.message,
    ...(code !== undefined && { code }),
    ...(errno !== undefined && { errno }),
    ...(syscall !== undefined && { syscall }),
    stack: error.stack,
    ...(cause !== undefined && depth < MAX_CAUSES && { cause: errorFields(cause, depth + 1) }),
  };
}

/** Written in place of a line the redactor could not clear: nothing of the line itself may leave. */
const WITHHELD_LINE = `${JSON.stringify({ level: 'error', service: 'keyward', msg: 'a log line was withheld: redacting it failed' })}\n`;

/**
 * A pino logger whose every serialized line passes through the redactor, so that no code path
 * (request logs, error objects, third-party messages) can write a secret.
 */
export function createLogger(options: LoggerOptions): GatewayLogger {
  const { redactor } = options;
  const batcher = options.destination ? undefined : new LineBatcher(1);
  const destination: DestinationStream = options.destination ?? batcher!;
  const redacting: DestinationStream = options.pretty
    ? {
        write(line: string) {
          destination.write(prettyLine(redactor.redact(line, WITHHELD_LINE)));
        },
      }
    : {
        write(line: string) {
          destination.write(redactor.redact(line, WITHHELD_LINE));
        },
      };
  const logger = pino(
    {
      level: options.level,
      base: { service: 'keyward' },
      serializers: { err: errorFields },
      timestamp: isoTimestamp(),
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
