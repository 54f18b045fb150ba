import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

/** What the admin API refuses in its queries and bodies, and how it says so. */
const PROVIDER_KEY = 'sk-admin-queries-provider-0123456789';

let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
let kw: TestGateway;
beforeAll(async () => {
  fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
  kw = await startTestGateway(
    {
      providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
    },
    { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
  );
});
afterAll(async () => {
  await kw?.close();
  await fake?.close();
});

const call = (method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown) =>
  adminCall(kw.adminUrl, method, path, body);

/** The status, field and message of each answer, to compare at once. */
async function refusals(method: 'GET' | 'POST' | 'DELETE', paths: readonly string[], body?: unknown) {
  const answers = [];
  for (const path of paths) {
    const { status, json } = await call(method, path, body);
    answers.push({ path, status, param: json?.error?.param, message: json?.error?.message });
  }
  return answers;
}

describe('time ranges', () => {
  it('refuse a usage range that is no calendar date or ends before it starts, naming from or to', async () => {
    const answers = await refusals('GET', [
      '/admin/usage?from=2026-13-45',
      '/admin/usage?from=9999-99-99&to=0000-00-00',
      '/admin/usage?to=2026-12-99',
      '/admin/usage?to=2026-02-30',
      '/admin/usage?from=2026-03-02&to=2026-03-01',
    ]);
    expect(answers.map(({ path, status, param }) => ({ path, status, param }))).toEqual([
      { path: '/admin/usage?from=2026-13-45', status: 400, param: 'from' },
      { path: '/admin/usage?from=9999-99-99&to=0000-00-00', status: 400, param: 'from' },
      { path: '/admin/usage?to=2026-12-99', status: 400, param: 'to' },
      { path: '/admin/usage?to=2026-02-30', status: 400, param: 'to' },
      { path: '/admin/usage?from=2026-03-02&to=2026-03-01', status: 400, param: 'from' },
    ]);
    expect(answers[0]!.message).toBe("'from' must be a calendar date (YYYY-MM-DD)");
    expect(answers[4]!.message).toBe("'from' must not be after 'to'");
    for (const path of [
      '/admin/usage?from=2024-02-29&to=2024-02-29',
      '/admin/usage?from=2026-01-01&to=2026-12-31',
    ])
      expect((await call('GET', path)).status).toBe(200);
  });

  it('refuse audit times that are no epoch milliseconds or end before they start, saying so', async () => {
    const answers = await refusals('GET', [
      '/admin/audit?since=2026-01-01',
      '/admin/audit?until=abc',
      '/admin/audit?since=2000&until=1000',
    ]);
    expect(answers).toEqual([
      {
        path: '/admin/audit?since=2026-01-01',
        status: 400,
        param: 'since',
        message: expect.stringContaining('epoch milliseconds'),
      },
      {
        path: '/admin/audit?until=abc',
        status: 400,
        param: 'until',
        message: expect.stringContaining('epoch milliseconds'),
      },
      {
        path: '/admin/audit?since=2000&until=1000',
        status: 400,
        param: 'since',
        message: "'since' must not be after 'until'",
      },
    ]);
    const now = Date.now();
    const listed = await call('GET', `/admin/audit?since=${now - 60_000}&until=${now + 60_000}`);
    expect(listed.status).toBe(200);
  });
});

describe('integer bounds', () => {
  it("name the field's own bound, never the safe-integer range zod adds to every integer", async () => {
    const answers = [
      await call('POST', '/admin/keys', { provider: 'fake', value: 'sk-x', weight: 1e16 }),
      await call('POST', '/admin/tokens', { name: 'web', limits: { rpm: 1e308 } }),
      await call('POST', '/admin/tokens', { name: 'web', maxTokens: -1e16 }),
      await call('GET', '/admin/audit?limit=1e308'),
    ];
    expect(answers.map(({ status, json }) => ({ status, message: json.error.message }))).toEqual([
      { status: 400, message: "'weight' must be at most 1000" },
      { status: 400, message: "'limits.rpm' must be at most 1000000000" },
      { status: 400, message: "'maxTokens' must be at least 1" },
      { status: 400, message: "'limit' must be at most 1000" },
    ]);
  });
});

describe('lifetimes', () => {
  it('refuse a token dead on creation or living past the ten-year cap, and a session of no time or past refreshTtl', async () => {
    const answers = [];
    for (const [path, body] of [
      ['/admin/tokens', { name: 'web', expiresIn: '0s' }],
      ['/admin/tokens', { name: 'web', expiresIn: '0d' }],
      ['/admin/tokens', { name: 'web', expiresIn: 0 }],
      ['/admin/tokens', { name: 'web', expiresIn: '999999d' }],
      ['/admin/tokens', { name: 'web', expiresIn: '3651d' }],
      ['/admin/tokens', { name: 'web', expiresIn: 315_360_001 }],
      ['/admin/sessions', { userId: 'ada', ttl: '0s' }],
      ['/admin/sessions', { userId: 'ada', ttl: 0 }],
      ['/admin/sessions', { userId: 'ada', ttl: '31d' }],
      ['/admin/sessions', { userId: 'ada', ttl: 2_592_001 }],
    ] as const) {
      const { status, json } = await call('POST', path, body);
      answers.push({ status, param: json.error?.param, message: json.error?.message });
    }
    expect(answers).toEqual([
      { status: 400, param: 'expiresIn', message: "'expiresIn' must be at least 1s" },
      { status: 400, param: 'expiresIn', message: "'expiresIn' must be at least 1s" },
      { status: 400, param: 'expiresIn', message: "'expiresIn' must be at least 1" },
      { status: 400, param: 'expiresIn', message: "'expiresIn' must be at most 3650d (10 years)" },
      { status: 400, param: 'expiresIn', message: "'expiresIn' must be at most 3650d (10 years)" },
      { status: 400, param: 'expiresIn', message: "'expiresIn' must be at most 315360000" },
      { status: 400, param: 'ttl', message: "'ttl' must be at least 1s" },
      { status: 400, param: 'ttl', message: "'ttl' must be at least 1" },
      // Past auth.sessions.refreshTtl (30d by default), which cut it without a word.
      {
        status: 400,
        param: 'ttl',
        message: "'ttl' must be at most 30d (auth.sessions.refreshTtl); omit it for that",
      },
      {
        status: 400,
        param: 'ttl',
        message: "'ttl' must be at most 30d (auth.sessions.refreshTtl); omit it for that",
      },
    ]);
    expect((await call('POST', '/admin/sessions', { userId: 'ada', ttl: '30d' })).status).toBe(201);
    const longest = await call('POST', '/admin/tokens', { name: 'web', expiresIn: '3650d' });
    expect(longest.status).toBe(201);
    expect(Date.parse(longest.json.expiresAt) - Date.parse(longest.json.createdAt)).toBe(3650 * 86_400_000);
  });
});

describe('metadata', () => {
  it('holds a token or session to 64 entries, as models are held to 256', async () => {
    const entries = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
    for (const [path, spec] of [
      ['/admin/tokens', { name: 'web' }],
      ['/admin/sessions', { userId: 'ada' }],
    ] as const) {
      const over = await call('POST', path, { ...spec, metadata: entries(65) });
      expect(over.status).toBe(400);
      expect(over.json.error).toMatchObject({
        param: 'metadata',
        message: "'metadata' must have at most 64 entries",
      });
      expect((await call('POST', path, { ...spec, metadata: entries(64) })).status).toBe(201);
    }
  });

  it('keeps a value with tabs and line breaks as given: only what a store cannot keep is refused', async () => {
    const metadata = { note: 'a\tb', desc: 'line1\nline2\r\n', plan: 'pro 🚀' };
    const token = await call('POST', '/admin/tokens', { name: 'web', metadata });
    expect(token.status).toBe(201);
    expect(token.json.metadata).toEqual(metadata);
    expect((await call('GET', `/admin/tokens/${token.json.id}`)).json.metadata).toEqual(metadata);
    expect((await call('POST', '/admin/sessions', { userId: 'ada', metadata })).status).toBe(201);
  });
});

describe('empty lists', () => {
  it('are refused in a session as in a token: templates: [] granted a session that could run nothing', async () => {
    for (const [path, spec] of [
      ['/admin/tokens', { name: 'web' }],
      ['/admin/sessions', { userId: 'ada' }],
    ] as const) {
      const empty = await call('POST', path, { ...spec, templates: [] });
      expect(empty.status).toBe(400);
      expect(empty.json.error).toMatchObject({
        param: 'templates',
        message: "'templates' must have at least 1 item",
      });
    }
  });
});

describe('routes that take nothing', () => {
  it('refuse an unknown field in their query or body, as every other admin route does', async () => {
    const answers = [
      await call('POST', '/admin/audit/verify', { from: 10 }),
      await call('POST', '/admin/conversations/purge', { user: 'ada' }),
      await call('POST', '/admin/conversations/purge?user=ada'),
      await call('POST', '/admin/audit/verify?from=5'),
      await call('GET', '/admin/alerts?since=1'),
      await call('GET', '/admin/stats/live?window=60'),
    ];
    expect(answers.map(({ status, json }) => ({ status, error: json.error }))).toEqual([
      { status: 400, error: expect.objectContaining({ code: 'unknown_field', param: 'from' }) },
      { status: 400, error: expect.objectContaining({ code: 'unknown_field', param: 'user' }) },
      { status: 400, error: expect.objectContaining({ code: 'unknown_field', param: 'user' }) },
      { status: 400, error: expect.objectContaining({ code: 'unknown_field', param: 'from' }) },
      { status: 400, error: expect.objectContaining({ code: 'unknown_field', param: 'since' }) },
      { status: 400, error: expect.objectContaining({ code: 'unknown_field', param: 'window' }) },
    ]);
    // As the dashboard calls them: no body, or an empty one.
    expect((await call('POST', '/admin/audit/verify')).status).toBe(200);
    expect((await call('POST', '/admin/audit/verify', {})).status).toBe(200);
    expect((await call('POST', '/admin/conversations/purge')).status).toBe(200);
    expect((await call('GET', '/admin/alerts')).status).toBe(200);
    expect((await call('GET', '/admin/stats/live')).status).toBe(200);
  });
});

describe('query strings', () => {
  it('are refused on every admin route that reads none, naming the parameter; the action is not taken', async () => {
    const created = await call('POST', '/admin/tokens', { name: 'kept' });
    expect(created.status).toBe(201);
    const id = created.json.id as string;
    const answers = await refusals(
      'POST',
      ['/admin/tokens?userId=ada', '/admin/keys/refresh?provider=fake'],
      {
        name: 'web',
      },
    );
    answers.push(
      ...(await refusals('GET', [
        '/admin/keys?provider=fake',
        `/admin/tokens/${id}?x=1`,
        '/admin/templates?name=a',
      ])),
      ...(await refusals('DELETE', [`/admin/tokens/${id}?dryRun=true`])),
    );
    expect(answers.map(({ path, status, param }) => ({ path, status, param }))).toEqual([
      { path: '/admin/tokens?userId=ada', status: 400, param: 'userId' },
      { path: '/admin/keys/refresh?provider=fake', status: 400, param: 'provider' },
      { path: '/admin/keys?provider=fake', status: 400, param: 'provider' },
      { path: `/admin/tokens/${id}?x=1`, status: 400, param: 'x' },
      { path: '/admin/templates?name=a', status: 400, param: 'name' },
      { path: `/admin/tokens/${id}?dryRun=true`, status: 400, param: 'dryRun' },
    ]);
    expect(answers[0]!.message).toBe(
      "Unrecognized query parameter 'userId': POST /admin/tokens takes none (its fields go in the JSON body)",
    );
    expect(answers[5]!.message).toBe(
      "Unrecognized query parameter 'dryRun': DELETE /admin/tokens/:id takes none",
    );
    expect((await call('GET', `/admin/tokens/${id}`)).json.revokedAt ?? null).toBeNull();
    // Routes that read their query still take it; the dashboard's pages and the probes ignore one.
    expect((await call('GET', '/admin/tokens?includeRevoked=true')).status).toBe(200);
    expect((await call('GET', '/admin/usage?by=day')).status).toBe(200);
    expect((await call('GET', '/admin/sessions?user=ada')).status).toBe(200);
    expect((await fetch(`${kw.adminUrl}/health?probe=1`)).status).toBe(200);
    expect((await fetch(`${kw.adminUrl}/admin/ui/?from=bookmark`)).status).toBe(200);
  });
});
