import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startGatewayProcess, writeTempConfig } from '../support/process.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const recorder = new URL('../support/record-packages.mjs', import.meta.url).pathname;

describe('backend drivers', { timeout: 60_000 }, () => {
  it("a gateway on SQLite with limits in memory and no JWT issuers serves without loading pg, ioredis, jose, undici's index or ajv", async () => {
    const fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    cleanups.push(() => fake.close());
    const packages = join(mkdtempSync(join(tmpdir(), 'keyward-packages-')), 'loaded.txt');
    const file = writeTempConfig({
      server: { port: 0 },
      admin: { port: 0 },
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
    });
    const gw = await startGatewayProcess(file, {
      KEYWARD_API_KEY: CLIENT_KEY,
      P_KEY: PROVIDER_KEY,
      NODE_OPTIONS: `--import ${recorder}`,
      KEYWARD_TEST_PACKAGES: packages,
    });
    cleanups.push(async () => gw.child.kill('SIGKILL'));
    const res = await request(`${gw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.statusCode).toBe(200);
    await res.body.dump();

    const files = new Set(readFileSync(packages, 'utf8').split('\n').filter(Boolean));
    const loaded = new Set([...files].map((file) => file.split('/', file.startsWith('@') ? 2 : 1).join('/')));
    // The recording works: the packages every gateway needs are in it.
    expect([...loaded]).toEqual(expect.arrayContaining(['fastify', 'undici', 'better-sqlite3']));
    expect(loaded.has('pg')).toBe(false);
    expect(loaded.has('ioredis')).toBe(false);
    expect(loaded.has('jose')).toBe(false);
    // Nor what it never uses of the packages it does load (docs/decisions.md, "Memory"): undici's
    // index (fetch, WebSocket, its cache and mocks) and the compilers of Fastify route schemas.
    expect(files).toContain('undici/lib/dispatcher/pool.js');
    expect(files.has('undici/index.js')).toBe(false);
    expect(loaded.has('ajv')).toBe(false);
    expect(loaded.has('@fastify/ajv-compiler')).toBe(false);
    expect(loaded.has('@fastify/fast-json-stringify-compiler')).toBe(false);
  });
});
