import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, statSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A tmpfs of `sizeMb` to fill up; root may mount one, others get undefined and skip. */
export function tinyDisk(sizeMb: number): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-tiny-disk-'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir]);
  return mounted.status === 0 ? dir : undefined;
}

export function unmount(disk: string | undefined): void {
  if (disk) spawnSync('umount', ['-l', disk]);
}

/**
 * Fills what is left of the disk at `dir` but `leftBytes` (room for a store to open, say, but not
 * to write); returns the filler's path, which deleting frees the space again.
 */
export function fillDisk(dir: string, leftBytes = 0): string {
  const file = join(dir, 'filler');
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  if (leftBytes > 0) truncateSync(file, statSync(file).size - leftBytes);
  return file;
}
