import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, writeTempConfig } from '../support/process.js';
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
