import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freshDataDir, runCli } from '../support/process.js';

const CLI = join(import.meta.dirname, '../../dist/cli/main.js');

/**
 * Runs the CLI with its stdout read by a reader that goes away, as `| head -1` does: before the
 * first byte (`after` 0) or after that many chunks, then `meanwhile` runs; resolves with the exit.
 */
async function closedAfter(
  args: string[],
  after: number,
  meanwhile: () => Promise<unknown> = async () => undefined,
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, KEYWARD_DATA_DIR: freshDataDir() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = once(child, 'exit');
  try {
    for (let seen = 0; seen < after; seen++) await once(child.stdout, 'data');
    child.stdout.destroy();
    await meanwhile();
    const [code] = (await exited) as [number | null];
    return { code, stderr };
  } finally {
    child.kill();
  }
}

describe('a CLI whose standard output is closed', { timeout: 60_000 }, () => {
  it('ends quietly with exit 0 when the reader is gone before it writes', async () => {
    const res = await closedAfter(['--help'], 0);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
  });

  it('ends audit tail --follow quietly when its reader stops after the first line', async () => {
    const dataDir = freshDataDir();
    const args = ['--data-dir', dataDir];
    for (const command of [['init'], ['tokens', 'create', '--name', 'first']]) {
      const res = await runCli([...command, ...args]);
      expect(res.code, res.stderr).toBe(0);
    }
    // A new record after the reader left makes the follower write into the closed pipe.
    const res = await closedAfter(['audit', 'tail', '-f', '--json', ...args], 1, async () => {
      const created = await runCli(['tokens', 'create', '--name', 'piped', ...args]);
      expect(created.code, created.stderr).toBe(0);
    });
    expect(res.stderr).not.toContain('unexpected error');
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
  });
});
