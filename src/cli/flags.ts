import { CliError } from './context.js';

/**
 * Numeric flags read in the user's terms: `--rpm abc` says what `--rpm` takes, rather than the
 * schema's view of the value parsing produced.
 */
export function wholeNumberFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(number) || number < 1) {
    throw new CliError(`--${flag} must be a whole number of at least 1 (got '${value.slice(0, 32)}')`, 2);
  }
  return number;
}

export function amountFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number) || number <= 0) {
    throw new CliError(
      `--${flag} must be a positive number such as 20 or 2.50 (got '${value.slice(0, 32)}')`,
      2,
    );
  }
  return number;
}

const DURATION = /^\d{1,6}[smhd]$/;
const SECONDS = /^\d{1,12}$/;

/** A lifetime as the API's lifetimeSchema takes it: `90d`, `12h`, `15m`, `30s`, or bare seconds. */
export function durationFlag(flag: string, value: string | undefined): string | number | undefined {
  if (value === undefined || DURATION.test(value)) return value;
  if (SECONDS.test(value)) return Number(value);
  throw new CliError(
    `--${flag} must be a duration: a number and a unit s, m, h or d, such as 90d, 12h, 15m or 30s, or a number of seconds (got '${value.slice(0, 32)}')`,
    2,
  );
}
