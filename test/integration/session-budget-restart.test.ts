import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

const PROVIDER_KEY = 'sk-session-budget-provider-key-0123456789';
const APP = 'https://app.example.test';
let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
const dataDir = mkdtempSync(join(tmpdir(), 'kw-session-budget-'));

const start = () =>
  startTestGateway(
    {
      server: { cors: { origins: [APP] } },
      providers: [{ id: 'o', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [{ name: 'fast', provider: 'o', model: 'gpt-4o-mini' }],
      pricing: { 'gpt-4o-mini': { input: 100, output: 1000 } },
    },
    { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    dataDir,
  );

beforeAll(async () => {
  fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
});
afterAll(async () => {
  await fake?.close();
});

async function sessionClient(kw: TestGateway, backendToken: string, userId: string) {
  const code = await adminCall(kw.adminUrl, 'POST', '/admin/sessions', { userId }, backendToken);
  expect(code.status).toBe(201);
  const res = await request(`${kw.dataUrl}/auth/session`, {
    method: 'POST',
    headers: { origin: APP, 'content-type': 'application/json' },
    body: JSON.stringify({ code: code.json.code }),
  });
  await res.body.dump();
  expect(res.statusCode).toBe(200);
  const cookie = ([] as string[])
    .concat(res.headers['set-cookie'] ?? [])
    .map((line) => line.split(';')[0])
    .join('; ');
  return new OpenAI({
    baseURL: `${kw.dataUrl}/v1`,
    apiKey: 'cookie',
    maxRetries: 0,
    fetch: (url, init) => {
      const headers = new Headers(init?.headers);
      headers.delete('authorization');
      headers.set('cookie', cookie);
      headers.set('origin', APP);
      return fetch(url, { ...init, headers });
    },
  });
}

/** Requests until one is refused: how many passed. */
async function spend(client: OpenAI): Promise<{ passed: number; code: unknown }> {
  for (let passed = 0; passed < 60; passed++) {
    try {
      await client.chat.completions.create({
        model: 'fast',
        max_tokens: 5,
        messages: [{ role: 'user', content: 'hi' }],
      });
    } catch (error) {
      return { passed, code: (error as { code?: unknown }).code };
    }
  }
  throw new Error('never refused');
}

const status = async (kw: TestGateway, token: string) => {
  const res = await request(`${kw.dataUrl}/v1/rate-limit-status`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return (await res.body.json()) as {
    budgets: Array<{ subject: string; spentUsd: number; limitUsd: number }>;
  };
};

describe('a backend token budget over the browser sessions it signs in', () => {
  it('still holds what its sessions spent after the gateway restarts on the same data', async () => {
    let kw = await start();
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: 'app-backend',
      scopes: ['sessions', 'chat', 'models:read'],
      budget: { usd: 0.05, period: 'total' },
    });
    expect(minted.status).toBe(201);
    const backend = minted.json.token as string;

    const first = await spend(await sessionClient(kw, backend, 'alice'));
    expect(first.passed).toBeGreaterThan(0);
    expect(first.code).toBe('budget_exceeded');
    const [before] = (await status(kw, backend)).budgets;
    expect(before!.spentUsd).toBeGreaterThan(0);
    await kw.close();

    // Restarted: the budget's counter is loaded from the store, where only the session's usage is.
    kw = await start();
    try {
      expect((await status(kw, backend)).budgets).toEqual([before]);
      const second = await spend(await sessionClient(kw, backend, 'bob'));
      expect(second).toEqual({ passed: 0, code: 'budget_exceeded' });
    } finally {
      await kw.close();
    }
  });
});
