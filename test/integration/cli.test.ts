import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSED_PORT } from '../support/closed-port.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { runCli, startGatewayProcess, writeTempConfig } from '../support/process.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

describe('keyward CLI', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((fn) => fn()));
  });

  it('prints help for every command', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('keyward start');
    for (const command of [['start'], ['auth', 'hash-key']]) {
      const res = await runCli([...command, '--help']);
      expect(res.code).toBe(0);
      expect(res.stdout).toContain(`Usage: keyward ${command.join(' ')}`);
    }
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
  });

  it('refuses an invalid configuration before listening, naming each path', async () => {
    const file = writeTempConfig({
      server: { port: 'x', colour: 'blue' },
      providers: [{ id: 'a', type: 'nope' }],
    });
    const res = await runCli(['start', '--config', file]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`invalid configuration in ${file}`);
    expect(res.stderr).toContain('server.colour: unknown key');
    expect(res.stderr).toContain('server.port: expected number');
    expect(res.stderr).toContain('providers[0].type: expected one of');
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect(res.stdout).not.toContain('keyward listening');
  });

  it('says a store it cannot reach cannot be reached, naming where and no password, not that the configuration is invalid', async () => {
    const file = writeTempConfig({
      storage: { postgres: { url: `postgres://keyward:hunter2@127.0.0.1:${CLOSED_PORT}/kw1` } },
    });
    for (const args of [[], ['--workers', '2']]) {
      const res = await runCli(['start', '--config', file, ...args]);
      expect(res.code, args.join(' ')).toBe(1);
      expect(res.stderr).toMatch(
        new RegExp(
          `^keyward: cannot reach the store \\(postgres 127\\.0\\.0\\.1:${CLOSED_PORT}/kw1\\): .*ECONNREFUSED`,
        ),
      );
      expect(res.stderr).not.toContain('invalid configuration');
      expect(res.stderr).not.toContain('hunter2');
    }
  });

  it('refuses a provider whose key variable is missing', async () => {
    const file = writeTempConfig({
      providers: [
        { id: 'p', type: 'openai', baseUrl: 'http://127.0.0.1:1/v1', keys: { env: 'MISSING_KEY' } },
      ],
    });
    const res = await runCli(['start', '--config', file]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(
      'providers[0].keys (p): environment variable MISSING_KEY is empty or not set',
    );
  });

  it('hashes a client key read from stdin', async () => {
    const res = await runCli(['auth', 'hash-key', '--json'], { stdin: `${CLIENT_KEY}\n` });
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout).hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((await runCli(['auth', 'hash-key'], { stdin: 'short' })).code).toBe(2);
  });

  it('drains in-flight streams on SIGTERM, refuses new work, then exits 0', async () => {
    const fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    cleanups.push(() => fake.close());
    const file = writeTempConfig({
      server: { port: 0 },
      admin: { port: 0 },
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
    });
    const gw = await startGatewayProcess(file, { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY });
    cleanups.push(async () => gw.child.kill('SIGKILL'));

    fake.script({ chunkDelayMs: 150 });
    const res = await request(`${gw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }], stream: true }),
    });
    expect(res.statusCode).toBe(200);
    gw.child.kill('SIGTERM');

    await expect
      .poll(async () =>
        request(`${gw.adminUrl}/ready`).then(
          (r) => r.statusCode,
          () => 'refused',
        ),
      )
      .not.toBe(200);
    const text = await res.body.text();
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(await gw.exited).toBe(0);
    await expect(request(`${gw.dataUrl}/health`)).rejects.toThrow();
    expect(gw.lines.some((line) => line.includes('"msg":"keyward stopped"'))).toBe(true);
  });
});
