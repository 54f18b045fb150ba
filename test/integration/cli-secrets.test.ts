import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateMasterKey } from '../../src/keys/index.js';
import { freshDataDir, runCli } from '../support/process.js';

const CLI = join(import.meta.dirname, '../../dist/cli/main.js');
const OPENAI_KEY = 'sk-cli-secrets-openai-0123456789abcdef';
const PASSWORD = 'pr0xy-pa55w0rd-do-not-echo';

const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const modeOf = (file: string) => statSync(file).mode & 0o777;

/**
 * Runs the compiled CLI under a pseudo-terminal (util-linux `script`), its standard input the
 * terminal as when a person types the command. The terminal is left open, never at end of file:
 * a CLI that waits for the secret is killed after `waitMs` and reported with code null.
 */
async function runOnTerminal(args: string[], env: NodeJS.ProcessEnv, waitMs = 10_000) {
  const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
  const command = [process.execPath, CLI, ...args].map(quote).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), waitMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  child.stdin.destroy();
  return { code, output: output.replaceAll('\r', '') };
}

describe('keyward keys import-env --write-config and secrets', { timeout: 60_000 }, () => {
  it('writes the config file readable by its owner only', async () => {
    const dataDir = freshDataDir();
    const env = {
      KEYWARD_DATA_DIR: dataDir,
      OPENAI_API_KEY: OPENAI_KEY,
      OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
    };
    expect((await runCli(['init'], { env })).code).toBe(0);
    const file = join(dataDir, 'keyward.yaml');
    const res = await runCli(['keys', 'import-env', '--write-config', file], { env });
    expect(res.code, res.stderr).toBe(0);
    expect(modeOf(file)).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toContain('baseUrl: http://127.0.0.1:9/v1');
  });

  it('refuses a base URL with a user name and password, naming the variable, never the password', async () => {
    const dataDir = freshDataDir();
    const env = {
      KEYWARD_DATA_DIR: dataDir,
      OPENAI_API_KEY: OPENAI_KEY,
      OPENAI_BASE_URL: `http://proxy-user:${PASSWORD}@127.0.0.1:9/v1`,
    };
    expect((await runCli(['init'], { env })).code).toBe(0);
    const file = join(dataDir, 'keyward.yaml');

    const res = await runCli(['keys', 'import-env', '--write-config', file], { env });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('OPENAI_BASE_URL has a user name or password in it');
    expect(res.stderr).toContain('remove them (OPENAI_BASE_URL=http://127.0.0.1:9/v1)');
    expect(res.stderr).toContain('as the provider key (OPENAI_API_KEY');
    expect(res.stderr).not.toContain(PASSWORD);
    expect(res.stderr).not.toContain('proxy-user');
    expect(existsSync(file)).toBe(false);
    // Refused before the import: nothing stored that no file would use.
    const listed = await runCli(['keys', 'list', '--json'], { env });
    expect(JSON.parse(listed.stdout)).toEqual({ keys: [] });

    const json = await runCli(['keys', 'import-env', '--write-config', file, '--json'], { env });
    expect(json.code).toBe(2);
    const { error } = JSON.parse(json.stderr) as { error: { message: string; exitCode: number } };
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain('OPENAI_BASE_URL has a user name or password in it');
    expect(json.stderr).not.toContain(PASSWORD);
  });
});

describe('keyward master rotate with a key file and KEYWARD_NEW_MASTER_KEY', { timeout: 60_000 }, () => {
  it('refuses the new key it would not use, changing nothing, and the way it points to works', async () => {
    const dataDir = freshDataDir();
    expect((await runCli(['init'], { env: { KEYWARD_DATA_DIR: dataDir } })).code).toBe(0);
    const keyFile = join(dataDir, 'master.key');
    const before = readFileSync(keyFile, 'utf8');
    const NEW = generateMasterKey().key.toString('base64');

    const refused = await runCli(['master', 'rotate', '--json'], {
      env: { KEYWARD_DATA_DIR: dataDir, KEYWARD_NEW_MASTER_KEY: NEW },
    });
    expect(refused.code).toBe(2);
    const { message } = JSON.parse(refused.stderr).error as { message: string };
    expect(message).toContain('apply only to a master key from the environment');
    expect(message).toContain(keyFile);
    expect(refused.stderr).not.toContain(NEW);
    expect(readFileSync(keyFile, 'utf8')).toBe(before);
    expect(existsSync(`${keyFile}.previous`)).toBe(false);

    // Moving to a key from the environment, as the message says: the file's key as the current one.
    const moved = await runCli(['master', 'rotate'], {
      env: { KEYWARD_DATA_DIR: dataDir, KEYWARD_MASTER_KEY: before.trim(), KEYWARD_NEW_MASTER_KEY: NEW },
    });
    expect(moved.code, moved.stderr).toBe(0);
    rmSync(keyFile);
    const opened = await runCli(['tokens', 'list'], {
      env: { KEYWARD_DATA_DIR: dataDir, KEYWARD_MASTER_KEY: NEW },
    });
    expect(opened.code, opened.stderr).toBe(0);
  });
});

describe('keyward master rotate writes its key files durably', { timeout: 60_000 }, () => {
  it('leaves the new key and the previous one whole, 0600, with no temporary file', async () => {
    const dataDir = freshDataDir();
    const env = { KEYWARD_DATA_DIR: dataDir };
    expect((await runCli(['init'], { env })).code).toBe(0);
    const keyFile = join(dataDir, 'master.key');
    const before = readFileSync(keyFile, 'utf8');

    const res = await runCli(['master', 'rotate'], { env });
    expect(res.code, res.stderr).toBe(0);
    const after = readFileSync(keyFile, 'utf8');
    expect(after).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
    expect(after).not.toBe(before);
    expect(readFileSync(`${keyFile}.previous`, 'utf8')).toBe(before);
    expect(modeOf(keyFile)).toBe(0o600);
    expect(modeOf(`${keyFile}.previous`)).toBe(0o600);
    expect(readdirSync(dataDir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    // The store opens with the new key.
    expect((await runCli(['keys', 'list'], { env })).code).toBe(0);
  });

  it('records the rotation in the audit chain, as every other key change is', async () => {
    const dataDir = freshDataDir();
    const env = { KEYWARD_DATA_DIR: dataDir };
    expect((await runCli(['init'], { env })).code).toBe(0);
    const rotated = await runCli(['master', 'rotate', '--json'], { env });
    expect(rotated.code, rotated.stderr).toBe(0);
    const { keyId, previousKeyId } = JSON.parse(rotated.stdout) as { keyId: string; previousKeyId: string };

    const tail = await runCli(['audit', 'tail', '--json'], { env });
    const records = tail.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { type: string; actor: string; data: Record<string, unknown> });
    expect(records.at(-1)).toMatchObject({
      type: 'admin.action',
      actor: 'cli',
      data: { action: 'master.rotated', target: keyId, detail: { previousKeyId, complete: true } },
    });
    expect((await runCli(['audit', 'verify'], { env })).code).toBe(0);
  });

  // A power loss cannot be staged in a test; what can be seen is the order of the system calls.
  it.skipIf(!has('strace'))('syncs each key file before its rename, and the directory after it', async () => {
    const dataDir = freshDataDir();
    const env = { KEYWARD_DATA_DIR: dataDir };
    expect((await runCli(['init'], { env })).code).toBe(0);
    const trace = join(freshDataDir(), 'trace.txt');
    const run = spawnSync(
      'strace',
      [
        '-f',
        '-o',
        trace,
        '-e',
        'trace=openat,fsync,fdatasync,rename,renameat,renameat2',
        process.execPath,
        CLI,
        'master',
        'rotate',
      ],
      { input: '', env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 30_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    const calls = readFileSync(trace, 'utf8')
      .split('\n')
      .map((line) => line.replace(/^\d+\s+/, ''));
    for (const target of ['master.key.previous', 'master.key']) {
      const path = join(dataDir, target);
      const renamed = calls.findIndex((call) => new RegExp(`^rename\\w*\\(.*, "${path}"`).test(call));
      expect(renamed, `rename to ${target}`).toBeGreaterThan(0);
      const temporary = /"([^"]+\.tmp)"/.exec(calls[renamed] ?? '')?.[1];
      expect(temporary, target).toBeDefined();
      const opened = calls.findIndex((call) => call.startsWith('openat(') && call.includes(`"${temporary}"`));
      const fd = /= (\d+)$/.exec(calls[opened] ?? '')?.[1];
      const synced = calls.findIndex(
        (call, i) => i > opened && i < renamed && new RegExp(`^f(data)?sync\\(${fd}\\)`).test(call),
      );
      expect(synced, `${target} synced before its rename`).toBeGreaterThan(opened);
      const dirOpened = calls.findIndex(
        (call, i) => i > renamed && call.startsWith('openat(') && call.includes(`"${dataDir}"`),
      );
      expect(dirOpened, `${dataDir} opened after the rename to ${target}`).toBeGreaterThan(renamed);
      const dirFd = /= (\d+)$/.exec(calls[dirOpened] ?? '')?.[1];
      expect(calls.slice(dirOpened + 1).some((call) => call.startsWith(`fsync(${dirFd})`))).toBe(true);
    }
  });
});

describe('secrets are never read from a terminal', { timeout: 60_000 }, () => {
  it.skipIf(!has('script'))('refuses at once, naming the command to pipe the secret to', async () => {
    const hashed = await runOnTerminal(['auth', 'hash-key'], {});
    expect(hashed.code).toBe(2);
    expect(hashed.output).toContain('keyward: standard input is a terminal');
    expect(hashed.output).toContain(
      'pipe it instead: keyward auth hash-key < key.txt, or printf %s "$KEY" | keyward auth hash-key',
    );

    const dataDir = freshDataDir();
    const config = join(dataDir, 'keyward.json');
    writeFileSync(
      config,
      JSON.stringify({
        providers: [
          { id: 'openai', type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', keys: { store: true } },
        ],
      }),
    );
    const env = { KEYWARD_DATA_DIR: dataDir };
    expect((await runCli(['init', '--config', config], { env })).code).toBe(0);
    const command = `keyward keys add --provider openai --config ${config}`;
    const added = await runOnTerminal(['keys', 'add', '--provider', 'openai', '--config', config], env);
    expect(added.code).toBe(2);
    expect(added.output).toContain(`pipe it instead: ${command} < key.txt, or printf %s "$KEY" | ${command}`);

    const rotated = await runOnTerminal(
      ['keys', 'rotate', '--provider', 'openai', '--config', config, '--json'],
      env,
    );
    expect(rotated.code).toBe(2);
    const { error } = JSON.parse(rotated.output.trim()) as { error: { message: string; exitCode: number } };
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain('pipe it instead: keyward keys rotate --provider openai --config');

    const encrypted = await runOnTerminal(
      ['keys', 'encrypt', '--provider', 'openai', '--config', config],
      env,
    );
    expect(encrypted.code).toBe(2);
    expect(encrypted.output).toContain('pipe it instead: keyward keys encrypt --provider openai');

    const listed = await runCli(['keys', 'list', '--config', config, '--json'], { env });
    expect(JSON.parse(listed.stdout)).toEqual({ keys: [] });
    // Piped, as the error says, the key is taken.
    const piped = await runCli(['keys', 'add', '--provider', 'openai', '--config', config], {
      env,
      stdin: OPENAI_KEY,
    });
    expect(piped.code, piped.stderr).toBe(0);
  });
});
