import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freshDataDir, runCli, startGatewayProcess, writeTempConfig } from '../support/process.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/** A loopback port another program already holds. */
async function heldPort(): Promise<number> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

describe('start-up errors that name things', { timeout: 60_000 }, () => {
  it('names the listener and the port that is in use, and where to change it', async () => {
    const port = await heldPort();
    const data = await runCli(['start'], {
      env: { KEYWARD_PORT: String(port), KEYWARD_ADMIN_PORT: '0', KEYWARD_API_KEY: CLIENT_KEY },
    });
    expect(data.code).toBe(1);
    expect(data.stderr).toContain(
      `the data-plane listener cannot listen on 127.0.0.1:${port}: the port is already in use`,
    );
    expect(data.stderr).toContain('choose another with server.port or KEYWARD_PORT');

    const admin = await runCli(['start'], {
      env: { KEYWARD_PORT: '0', KEYWARD_ADMIN_PORT: String(port), KEYWARD_API_KEY: CLIENT_KEY },
    });
    expect(admin.code).toBe(1);
    expect(admin.stderr).toContain(`the admin listener cannot listen on 127.0.0.1:${port}`);
    expect(admin.stderr).toContain('admin.port or KEYWARD_ADMIN_PORT');
  });

  it('states one minimum length for client keys, however short the key', async () => {
    for (const key of ['k3y9x', 'twelve-chars']) {
      const res = await runCli(['start'], { env: { KEYWARD_API_KEY: `${CLIENT_KEY},${key}` } });
      expect(res.code).toBe(2);
      expect(res.stderr).toContain(
        'KEYWARD_API_KEY: key #2 is too short; every key must be at least 16 characters',
      );
      expect(res.stderr).not.toContain(key);
    }
    const hashed = await runCli(['auth', 'hash-key'], { stdin: 'twelve-chars' });
    expect(hashed.stderr).toContain('at least 16 characters');
  });

  it('with --json, reports a failed start as {"error"} on stderr, as every other command does', async () => {
    const errorOf = (stderr: string) =>
      JSON.parse(stderr) as { error: { message: string; exitCode: number } };
    const bad = await runCli(['start', '--json', '--config', writeTempConfig({ server: { hots: 'x' } })]);
    expect(bad.code).toBe(2);
    expect(errorOf(bad.stderr).error).toEqual({
      message: expect.stringContaining('server.hots: unknown key (did you mean host?)'),
      exitCode: 2,
    });

    const port = await heldPort();
    const held = await runCli(['start', '--json'], {
      env: { KEYWARD_PORT: String(port), KEYWARD_ADMIN_PORT: '0', KEYWARD_API_KEY: CLIENT_KEY },
    });
    expect(held.code).toBe(1);
    expect(errorOf(held.stderr).error).toEqual({
      message: expect.stringContaining(`cannot listen on 127.0.0.1:${port}: the port is already in use`),
      exitCode: 1,
    });

    const workers = await runCli(['start', '--json', '--workers', 'many']);
    expect(workers.code).toBe(2);
    expect(errorOf(workers.stderr).error.message).toContain('--workers must be auto or a whole number');
  });

  it('points a start whose configured master key file is missing at keyward init, as other commands do', async () => {
    const keyFile = join(freshDataDir(), 'secrets', 'master.key');
    const file = writeTempConfig({ server: { port: 0 }, admin: { port: 0 }, masterKey: { file: keyFile } });
    const start = await runCli(['start', '--config', file]);
    expect(start.code).toBe(2);
    expect(start.stderr).toContain(
      `master key: cannot read master key file ${keyFile}: ENOENT (run 'keyward init' first, or point masterKey.file at the existing key)`,
    );
    const json = await runCli(['start', '--config', file, '--json']);
    expect(JSON.parse(json.stderr).error.message).toContain("(run 'keyward init' first");
    // The hint is the one the other commands give (which find no store here, before the key).
    const list = await runCli(['tokens', 'list', '--config', file]);
    expect(list.stderr).toContain("(run 'keyward init' first");

    expect((await runCli(['init', '--config', file])).code).toBe(0);
    const gw = await startGatewayProcess(file, { KEYWARD_API_KEY: CLIENT_KEY });
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
  });

  it('says how to use KEYWARD_API_KEY when it is set but the configuration file does not read it', async () => {
    const file = writeTempConfig({ server: { port: 0 }, admin: { port: 0 } });
    const warning = async (env: NodeJS.ProcessEnv) => {
      const gw = await startGatewayProcess(file, env);
      gw.child.kill('SIGTERM');
      await gw.exited;
      return gw.lines.find((line) => line.includes('no client credential is configured'));
    };
    const set = await warning({ KEYWARD_API_KEY: CLIENT_KEY });
    expect(set).toContain(
      `KEYWARD_API_KEY is set but not read: add auth: { apiKeys: { env: KEYWARD_API_KEY } } to ${file}, or create a token`,
    );
    expect(set).not.toContain(CLIENT_KEY);
    expect(await warning({})).toContain(
      `add auth: { apiKeys: { env: KEYWARD_API_KEY } } to ${file}, or create a token`,
    );
    const named = writeTempConfig({
      server: { port: 0 },
      admin: { port: 0 },
      auth: { apiKeys: { env: 'MY_KEYS' } },
    });
    const gw = await startGatewayProcess(named, {});
    gw.child.kill('SIGTERM');
    await gw.exited;
    expect(gw.lines.find((line) => line.includes('no client credential'))).toContain(
      'set MY_KEYS or create a token',
    );
  });

  it('names the environment variable holding a bad base URL', async () => {
    const res = await runCli(['start'], {
      env: {
        OPENAI_API_KEY: PROVIDER_KEY,
        OPENAI_BASE_URL: 'api.openai.com/v1',
        KEYWARD_API_KEY: CLIENT_KEY,
      },
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(
      'OPENAI_BASE_URL: expected an http(s) URL such as https://api.openai.com/v1',
    );
    expect(res.stderr).not.toContain('providers[0]');
    // A file's own base URL is still named by its path.
    const file = writeTempConfig({
      providers: [{ id: 'p', type: 'openai', baseUrl: 'ftp://x', keys: { env: 'P' } }],
    });
    const fromFile = await runCli(['start', '--config', file], { env: { P: PROVIDER_KEY } });
    expect(fromFile.stderr).toContain('providers[0].baseUrl');
  });
});
