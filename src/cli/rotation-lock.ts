import { hostname } from 'node:os';
import type { MetaStore } from '../store/index.js';
import { CliError } from './context.js';

/**
 * The store entry a running `keyward master rotate` holds. It lives in the store, not beside the
 * key file, so that two rotations run on different machines against one Postgres exclude each
 * other too: two at once would each re-seal under its own new key, and one key file ends up
 * holding a key that opens only part of the records.
 */
const LOCK = 'master_rotation';

interface Holder {
  host: string;
  pid: number;
  since: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists and belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parse(value: string): Holder | undefined {
  try {
    const holder = JSON.parse(value) as Partial<Holder>;
    if (typeof holder.host === 'string' && typeof holder.pid === 'number' && typeof holder.since === 'string')
      return holder as Holder;
  } catch {}
  return undefined;
}

/**
 * Runs `work` as the only rotation of this store. A holder that was killed on this machine is
 * recognised by its pid and its entry is taken over; one on another machine can only be told
 * apart from a slow one there, so the message says where to look.
 */
export async function withRotationLock<T>(meta: MetaStore, work: () => Promise<T>): Promise<T> {
  const mine = JSON.stringify({ host: hostname(), pid: process.pid, since: new Date().toISOString() });
  for (let attempt = 0; ; attempt++) {
    const held = await meta.setIfAbsent(LOCK, mine);
    if (held === mine) break;
    const holder = parse(held);
    const stale = holder !== undefined && holder.host === hostname() && !alive(holder.pid);
    if (stale && attempt === 0) {
      // Only the entry seen is removed: a rotation that took it over meanwhile keeps its own.
      await meta.deleteIf(LOCK, held);
      continue;
    }
    const who = holder ? `pid ${holder.pid} on ${holder.host}, since ${holder.since}` : 'unknown holder';
    throw new CliError(
      `another keyward master rotate is running on this store (${who}): let it finish, then run this again` +
        (holder && holder.host !== hostname()
          ? `; if it was stopped there, running keyward master rotate on ${holder.host} clears it`
          : ''),
    );
  }
  try {
    return await work();
  } finally {
    await meta.deleteIf(LOCK, mine);
  }
}
