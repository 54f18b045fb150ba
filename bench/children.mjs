// The child processes of the benchmark and the soak (fakes, proxies, gateways, servers): each is
// killed when the run ends, however it ends.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const children = [];

/** Kills every child started so far. */
export function stopAll() {
  for (const child of children) child.kill('SIGKILL');
}
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));

/** Keeps `child` to be killed with this process; returns it. */
export function own(child) {
  children.push(child);
  return child;
}

/** Starts the repository's node `script` that prints `{"url":…}` as its first line. */
export async function startAnnounced(script, env) {
  const child = own(
    spawn(process.execPath, [join(root, script)], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const [line] = await once(child.stdout, 'data');
  child.stdout.resume();
  return { pid: child.pid, url: JSON.parse(String(line).split('\n')[0]).url };
}
