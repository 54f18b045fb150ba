import { once } from 'node:events';
import { createServer } from 'node:http';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { PROVIDER_KEY } from '../support/setup.js';

/** $1 per million output tokens: a request with max_tokens 1,000 reserves a tenth of the $0.01 budget. */
const PRICING = { 'gpt-4o-mini': { input: 0.1, output: 1 } };
const ANSWER: Script = {
  blocks: [{ type: 'text', text: 'spent' }],
  stop: 'end',
  usage: { input: 10, output: 1000 },
};
const HELD: Script = { ...ANSWER, fault: { kind: 'hang' } };

/**
 * A budget that requests in flight hold reserved to its ceiling refuses the next request, as by
 * design, but it is not spent: no `budget_exhausted` alert (which, once an hour per subject, would
 * also have muted the alert for the moment it is spent), and the client is told to retry shortly.
 */
describe('a budget reserved to its ceiling by requests in flight', () => {
  let fake: FakeProvider;
  let kw: TestGateway;
  let server: ReturnType<typeof createServer>;
  const hooks: Array<{ kind: string; subject: string; message: string }> = [];

  beforeAll(async () => {
    server = createServer(async (req, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      hooks.push(JSON.parse(body));
      res.end('ok');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        alerts: { webhook: { url: `http://127.0.0.1:${port}/hook`, secretEnv: 'HOOK_SECRET' } },
        providers: [{ id: 'o', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'P_KEY' } }],
        models: [{ name: 'fast', provider: 'o', model: 'gpt-4o-mini' }],
        pricing: PRICING,
      },
      { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY, HOOK_SECRET: 'whsec-test-0123456789abcdef' },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await fake?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  const chat = async (token: string, signal?: AbortSignal) => {
    const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fast', max_tokens: 1000, messages: [{ role: 'user', content: 'hi' }] }),
      signal,
    });
    const json = (await res.body.json()) as { error?: { code?: string; message: string } };
    return { status: res.statusCode, headers: res.headers, error: json.error };
  };
  const reserved = async (token: string) => {
    const res = await request(`${kw.dataUrl}/v1/rate-limit-status`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const status = (await res.body.json()) as { budgets: Array<{ reservedUsd: number }> };
    return status.budgets[0]?.reservedUsd;
  };
  const budgetAlerts = async () => {
    const text = await kw.gateway.metrics.render();
    return Number(/keyward_alerts_total\{kind="budget_exhausted"\} (\d+)/.exec(text)?.[1] ?? 0);
  };

  /** A new token with a daily budget of $0.01. */
  const budgeted = async (name: string) =>
    (
      (await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name, budget: { usd: 0.01, period: 'day' } }))
        .json as { token: string }
    ).token;

  it('refuses without a budget_exhausted alert; the alert comes once the budget is spent', async () => {
    const token = await budgeted('held');
    fake.script(ANSWER);
    for (let i = 0; i < 3; i++) expect((await chat(token)).status).toBe(200);

    // About 30 % spent; held answers keep their reservations until the clients leave.
    fake.script(HELD);
    const leave = new AbortController();
    const held = Array.from({ length: 10 }, () => chat(token, leave.signal).catch(() => undefined));
    await expect.poll(() => fake.requests.length, { timeout: 5_000 }).toBeGreaterThan(3 + 5);
    const refused = await chat(token);
    expect(refused.status).toBe(429);
    expect(refused.error?.code).toBe('budget_exceeded');
    expect(refused.error?.message).toContain('while requests in flight hold their reservations');
    expect(refused.error?.message).not.toContain('is spent');
    expect(refused.headers['retry-after']).toBe('1');
    expect(await budgetAlerts()).toBe(0);

    leave.abort();
    await Promise.all(held);
    // The gateway settles the abandoned requests as it sees their clients gone.
    await expect.poll(() => reserved(token)).toBe(0);
    fake.script(ANSWER);
    let spent: Awaited<ReturnType<typeof chat>> | undefined;
    for (let i = 0; i < 20 && !spent; i++) {
      const answer = await chat(token);
      if (answer.status !== 200) spent = answer;
    }
    expect(spent?.error?.message).toContain('budget of this token is spent');
    expect(await budgetAlerts()).toBe(1);
    await expect.poll(() => hooks.filter((hook) => hook.kind === 'budget_exhausted').length).toBe(1);
  });

  it('refuses a request larger than the whole budget as such, without an alert; smaller ones pass', async () => {
    const token = await budgeted('small');
    const alertsBefore = await budgetAlerts();
    fake.script(ANSWER);
    // No max_tokens: the gateway's output ceiling is reserved, $0.065 at $1 per million, over $0.01.
    const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
    });
    const { error } = (await res.body.json()) as { error: { code: string; message: string } };
    expect(res.statusCode).toBe(429);
    expect(error.code).toBe('budget_exceeded');
    expect(error.message).toContain('is more than the whole daily budget of this token');
    expect(error.message).toContain('send a lower max_completion_tokens');
    expect(res.headers['x-should-retry']).toBe('false');
    expect(await budgetAlerts()).toBe(alertsBefore);

    // Nothing is spent: a request that names its output limit is served.
    expect((await chat(token)).status).toBe(200);
    expect(await budgetAlerts()).toBe(alertsBefore);
  });
});
