import { writeSync } from 'node:fs';
import { inspect } from 'node:util';
import { MAX_CAUSES } from './logger.js';
import { Redactor } from './redact.js';

const HEADLINE = 'keyward: an unexpected error ended the process';
const WITHHELD = `${HEADLINE} (its report was withheld: redacting it failed)\n`;

/**
 * What the process writes when an error nobody caught ends it. Node's own report prints the
 * error's message, stack and fields as they are, and an error can quote a secret (a regular
 * expression built from secrets did: its whole pattern was the message). It goes through the one
 * redactor instead: the gateway's once it has one, which knows every key loaded; until then one
 * that knows no value but masks every credential shape.
 */
let redactor = new Redactor();
/** Writes out the log lines still buffered, which would tell what led to the crash. */
let flushLog: () => void = () => undefined;

/** From now on a crash is redacted with what `current` knows (the gateway registers its own). */
export function reportCrashesWith(current: Redactor, flush: () => void): void {
  redactor = current;
  flushLog = flush;
}

/** An error's stack and its causes', none of the fields a library hangs on it (see errorFields). */
function describe(error: unknown, depth = 0): string {
  if (!(error instanceof Error)) return inspect(error, { depth: 2 });
  const own = error.stack ?? `${error.name}: ${error.message}`;
  const { cause } = error as { cause?: unknown };
  return cause === undefined || depth >= MAX_CAUSES
    ? own
    : `${own}\ncaused by: ${describe(cause, depth + 1)}`;
}

/** The text written for an error that ends the process: redacted, or withheld if that fails. */
export function crashReport(error: unknown): string {
  try {
    return redactor.redact(`${HEADLINE}: ${describe(error)}\n`, WITHHELD);
  } catch {
    return WITHHELD;
  }
}

/** Writes the buffered log lines, then the crash report to stderr, synchronously: the process exits next. */
export function writeCrash(error: unknown): void {
  try {
    flushLog();
  } catch {
    // The report matters more than the lines before it.
  }
  writeSync(2, crashReport(error));
}
