import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { freePort } from './free-port.js';

export interface RedisServer {
  url: string;
  port: number;
  /** Kills the server; clients see their connection drop. */
  stop(): Promise<void>;
  /** Starts a fresh, empty server on the same port. */
  restart(): Promise<void>;
  /** Holds every client's commands for `ms` (CLIENT PAUSE), as a slow or busy Redis would. */
  pause(ms: number): Promise<void>;
}

let found: boolean | undefined;

/** Whether `redis-server` is installed, so Redis tests can skip rather than fail without it. */
export function hasRedis(): boolean {
  found ??= spawnSync('redis-server', ['--version']).status === 0;
  return found;
}

/** A private, throwaway `redis-server` on a free loopback port: no persistence, nothing shared. */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined = await launch(port);
  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = once(running, 'exit');
    running.kill('SIGKILL');
    await exited;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    async restart() {
      await stop();
      child = await launch(port);
    },
    async pause(ms) {
      const answer = await command(port, 'CLIENT', 'PAUSE', String(ms));
      if (answer !== '+OK') throw new Error(`CLIENT PAUSE answered ${answer}`);
    },
  };
}

/** One command in RESP on a connection of its own; the first line of the answer. */
async function command(port: number, ...args: string[]): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  socket.write(`*${args.length}\r\n${args.map((arg) => `$${arg.length}\r\n${arg}\r\n`).join('')}`);
  const [answer] = await once(socket, 'data');
  socket.destroy();
  return String(answer).split('\r\n')[0]!;
}

async function launch(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'],
    { stdio: 'ignore' },
  );
  // A test run that dies must not leave servers behind.
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  child.once('exit', () => process.off('exit', kill));
  const deadline = Date.now() + 10_000;
  while (!(await pings(port))) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('redis-server did not answer PING');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return child;
}

function pings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setTimeout(500, () => socket.destroy());
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk;
      if (answer.includes('\r\n')) socket.end();
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve(answer.startsWith('+PONG')));
  });
}
