import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { logRecords } from '../support/gateway.js';
import { freshDataDir, writeTempConfig } from '../support/process.js';
import { CLIENT_KEY, PROVIDER_KEY, type Stack, startStack } from '../support/setup.js';

const CLI = join(import.meta.dirname, '../../dist/cli/main.js');

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function chat(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await request(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  await res.body.dump();
  return res.statusCode;
}

describe('logs', { timeout: 60_000 }, () => {
  it('put the error code answered and the model asked for on every 4xx/5xx line', async () => {
    const stack: Stack = await startStack();
    cleanups.push(() => stack.close());
    const url = stack.kw.dataUrl;
    const messages = [{ role: 'user', content: 'hi' }];
    expect(await chat(url, { model: 'gpt-4o-mini', messages })).toBe(404);
    expect(await chat(url, { model: 'fast', messages, colour: 'blue' })).toBe(400);
    expect(
      await chat(url, { model: 'fast', messages }, { authorization: 'Bearer nope-nope-nope-nope' }),
    ).toBe(401);
    stack.fake.script({ status: 500 });
    expect(await chat(url, { model: 'fast', messages })).toBe(502);
    expect(await chat(url, { model: 'fast', messages })).toBe(200);

    await expect.poll(() => logRecords(stack.kw.logs).filter((r) => r.route).length).toBe(5);
    const lines = logRecords(stack.kw.logs).filter((r) => r.route);
    expect(lines.map((r) => [r.status, r.errorCode, r.model])).toEqual([
      [404, 'model_not_found', 'gpt-4o-mini'],
      [400, 'unknown_field', 'fast'],
      // Refused before its body is read: an unauthenticated body is never parsed.
      [401, 'invalid_credential', undefined],
      [502, 'provider_error', 'fast'],
      [200, undefined, 'fast'],
    ]);
  });

  it('are readable with logging.format: pretty, with a start banner', async () => {
    const fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    cleanups.push(() => fake.close());
    const file = writeTempConfig({
      server: { port: 0 },
      admin: { port: 0 },
      logging: { format: 'pretty' },
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
    });
    const child = spawn(process.execPath, [CLI, 'start', '--config', file], {
      env: {
        PATH: process.env.PATH,
        KEYWARD_DATA_DIR: freshDataDir(),
        KEYWARD_API_KEY: CLIENT_KEY,
        P_KEY: PROVIDER_KEY,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.push(async () => child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    await expect.poll(() => /dataUrl\s+(\S+)/.exec(out)?.[1], { timeout: 30_000 }).toBeTruthy();
    const dataUrl = /dataUrl\s+(\S+)/.exec(out)![1]!;
    expect(out).toMatch(/INFO {2}keyward listening\n/);
    expect(out).toMatch(/ {4}providers {4}fake \(openai, keys: env\)\n/);
    expect(out).toMatch(/ {4}aliases {6}fast\n/);
    expect(out).toMatch(/ {4}credentials {2}1 static key\(s\)\n/);
    expect(out).toMatch(/ {4}storage {6}sqlite \S+keyward\.db\n/);

    expect(await chat(dataUrl, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })).toBe(
      404,
    );
    await expect
      .poll(() => out)
      .toMatch(/ INFO {2}404 POST \/v1\/chat\/completions gpt-4o-mini [\d.]+ms .*errorCode=model_not_found/);
    // A client's text cannot forge a line or send the terminal escape sequences.
    const forged = 'gpt\n13:31:07.000 FATAL forged line \u001b[2J\u001b[31m\u2028\u202e';
    expect(await chat(dataUrl, { model: forged, messages: [{ role: 'user', content: 'hi' }] })).toBe(404);
    await expect
      .poll(() => out)
      .toContain('gpt\\u000a13:31:07.000 FATAL forged line \\u001b[2J\\u001b[31m\\u2028\\u202e');
    expect(out).not.toMatch(/\n13:31:07\.000 FATAL/);
    expect(out).not.toContain('\u001b');
    expect(out).not.toContain('\u2028');
    expect(out).not.toContain('\u202e');
    expect(out.split('\n').filter((line) => line.startsWith('{'))).toEqual([]);
    expect(out).not.toContain(CLIENT_KEY);
  });
});
