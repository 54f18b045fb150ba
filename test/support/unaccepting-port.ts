import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';

/**
 * A loopback port whose listen queue is full, so a new connection never completes: the only way
 * to make a connect timeout happen on loopback. Node always accepts, so a tiny Python listener
 * with backlog 0 (filled by its own connections) plays the part.
 */
const SCRIPT = `
import socket, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)
port = s.getsockname()[1]
held = []
for _ in range(3):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(('127.0.0.1', port))
    except BlockingIOError: pass
    held.append(c)
print(port, flush=True)
time.sleep(120)
`;

export const hasPython = spawnSync('python3', ['--version']).status === 0;

export async function startUnacceptingPort(): Promise<{ port: number; close(): void }> {
  const child: ChildProcess = spawn('python3', ['-c', SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return { port: Number(String(line).trim()), close: () => child.kill('SIGKILL') };
}
