import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CLI = join(import.meta.dirname, '../../dist/cli/main.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the compiled `keyward` CLI to completion. */
export async function runCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: string } = {},
): Promise<CliRun> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, KEYWARD_DATA_DIR: freshDataDir(), ...options.env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  child.stdin.end(options.stdin ?? '');
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

export interface RunningGateway {
  child: ChildProcess;
  dataUrl: string;
  adminUrl: string;
  /** Lines the process has written to stdout so far. */
  lines: string[];
  /** What the process has written to stderr so far. */
  stderr(): string;
  exited: Promise<number | null>;
  /** SIGTERM, as a supervisor stops it; resolves with its exit code. */
  stop(): Promise<number | null>;
}

/** A data directory of its own, so that tests never share a store or a master key by accident. */
export function freshDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'keyward-data-'));
}

/** Writes a config file to a fresh temporary directory. */
export function writeTempConfig(config: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'keyward-cli-')), 'keyward.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

/**
 * Starts `keyward start` as its own process and waits for its "keyward listening" line (one per
 * worker with `--workers N` among `args`).
 */
export async function startGatewayProcess(
  configFile: string,
  env: NodeJS.ProcessEnv,
  args: string[] = [],
  listeners = 1,
): Promise<RunningGateway> {
  const child = spawn(process.execPath, [CLI, 'start', '--config', configFile, ...args], {
    env: { PATH: process.env.PATH, KEYWARD_DATA_DIR: freshDataDir(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const listening = new Promise<{ dataUrl: string; adminUrl: string }>((resolve, reject) => {
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl = buffer.indexOf('\n');
      while (nl !== -1) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        lines.push(line);
        const record = JSON.parse(line) as { msg?: string; dataUrl?: string; adminUrl?: string };
        if (record.msg === 'keyward listening' && record.dataUrl && record.adminUrl && --listeners === 0) {
          resolve({ dataUrl: record.dataUrl, adminUrl: record.adminUrl });
        }
        nl = buffer.indexOf('\n');
      }
    });
    // What it said on its way out names the cause when a start fails only now and then.
    void exited.then((code) =>
      reject(
        new Error(
          `gateway exited early with code ${code}: ${[...lines, stderr.slice(-4000)].join('\n').slice(-2000)}`,
        ),
      ),
    );
  });
  const urls = await listening;
  const stop = () => {
    child.kill('SIGTERM');
    return exited;
  };
  return { child, ...urls, lines, stderr: () => stderr, exited, stop };
}

/** `keyward start --workers N` (two by default), once every worker is listening. */
export function startWorkers(
  configFile: string,
  env: NodeJS.ProcessEnv,
  workers = 2,
): Promise<RunningGateway> {
  return startGatewayProcess(configFile, env, ['--workers', String(workers)], workers);
}
