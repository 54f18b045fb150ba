import { StoreUnreachableError } from './errors.js';

/**
 * Why the store did not do what it was asked, when the cause is the store's state and not the
 * operation or the code: the disk is full, another process holds the write lock, the file or the
 * server is read-only, the disk fails, or the database server cannot be reached. What is not one of
 * these (a constraint, a bug, a damaged schema) is no fault here: it stays an internal error.
 */
export type StoreFault = 'full' | 'busy' | 'readonly' | 'io' | 'unreachable';

/** SQLite's primary result codes (better-sqlite3's `code`, extended codes such as SQLITE_IOERR_WRITE included). */
const SQLITE_FAULTS: Readonly<Record<string, StoreFault>> = {
  SQLITE_FULL: 'full',
  SQLITE_BUSY: 'busy',
  SQLITE_READONLY: 'readonly',
  SQLITE_IOERR: 'io',
};

/**
 * Postgres SQLSTATEs: the server shutting down or starting (57P01-57P03), too many connections,
 * a full disk, and a standby that cannot write; the whole class 08 is a connection's failure.
 */
const POSTGRES_FAULTS: Readonly<Record<string, StoreFault>> = {
  '57P01': 'unreachable',
  '57P02': 'unreachable',
  '57P03': 'unreachable',
  '53300': 'unreachable',
  '53100': 'full',
  '25006': 'readonly',
};

/** A socket's failure to reach or keep the database server. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** pg's own words for a connection it could not make or lost, which carry no code. */
const PG_CONNECTION_MESSAGES = [
  /^timeout exceeded when trying to connect$/,
  /^Connection terminated\b/,
  /^Client has encountered a connection error and is not queryable$/,
];

/** The fault `error` reports, or undefined when it is not a store fault (see StoreFault). */
export function storeFault(error: unknown): StoreFault | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error instanceof StoreUnreachableError) return 'unreachable';
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  if (typeof code === 'string') {
    const sqlite = /^SQLITE_[A-Z]+/.exec(code)?.[0];
    if (sqlite) return SQLITE_FAULTS[sqlite];
    // A Postgres server's error: pg's DatabaseError, which carries a severity.
    if (typeof severity === 'string' && /^[0-9A-Z]{5}$/.test(code))
      return code.startsWith('08') ? 'unreachable' : POSTGRES_FAULTS[code];
    return NETWORK_CODES.has(code) ? 'unreachable' : undefined;
  }
  return PG_CONNECTION_MESSAGES.some((words) => words.test(error.message)) ? 'unreachable' : undefined;
}

/** The cause of each fault as an operator reads it. */
export const STORE_FAULT_CAUSES: Readonly<Record<StoreFault, string>> = {
  full: 'the disk is full',
  busy: 'another process holds its write lock',
  readonly: 'it is read-only',
  io: 'the disk reported an I/O error',
  unreachable: 'the database server cannot be reached',
};
