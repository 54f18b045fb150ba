import { setTimeout as sleep } from 'node:timers/promises';

/** At close, a refused write is tried again after this, doubling up to MAX_RETRY_MS. */
const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 1_000;

/**
 * Runs `attempt` until it says nothing is left to write, or `deadline` (epoch ms) has passed,
 * backing off between tries: what a writer does at shutdown with a store that is down for a moment
 * (a Postgres restart, a backup holding SQLite's lock). One attempt when the deadline has passed.
 */
export async function retryUntil(deadline: number, attempt: () => Promise<boolean>): Promise<void> {
  let wait = FIRST_RETRY_MS;
  while ((await attempt()) && Date.now() < deadline) {
    await sleep(Math.min(wait, deadline - Date.now()));
    wait = Math.min(wait * 2, MAX_RETRY_MS);
  }
}
