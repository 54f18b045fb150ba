import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

const LOCKER = join(import.meta.dirname, 'sqlite-locker.cjs');

/** Another process holding a SQLite store's write lock, as a backup tool or a long migration would. */
export interface StoreLock {
  /** Whether the lock is still held. */
  readonly held: boolean;
  /** Gives the lock back; nothing once given back. */
  release(): Promise<void>;
}

/** Takes the write lock of the SQLite store at `database` from another process, once it holds it. */
export async function lockStore(database: string): Promise<StoreLock> {
  const locker = spawn(process.execPath, [LOCKER, database], { stdio: ['pipe', 'pipe', 'inherit'] });
  await once(locker.stdout, 'data');
  return {
    get held() {
      return locker.exitCode === null;
    },
    async release() {
      if (locker.exitCode !== null) return;
      locker.stdin.end('release\n');
      await once(locker, 'exit');
    },
  };
}
