import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { hasChromium, launchChromium, type PageServer, servePage } from '../support/chromium.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

const PROVIDER_KEY = 'sk-browser-test-provider-key-0123456789';
const SESSION_TTL_SEC = 2;

/** The little of the DOM the page functions below use: the tests compile without the DOM library. */
interface FormElement {
  method: string;
  action: string;
  name: string;
  value: string;
  append(node: unknown): void;
  submit(): void;
}
declare const document: {
  cookie: string;
  body: { append(node: unknown): void };
  createElement(tag: 'form' | 'input'): FormElement;
};

/** Runs in an attacker's page: a classic CSRF form post to the gateway. */
function postForm(gw: string): void {
  const form = document.createElement('form');
  form.method = 'POST';
  form.action = `${gw}/v1/chat/completions`;
  const field = document.createElement('input');
  field.name = 'model';
  field.value = 'fast';
  form.append(field);
  document.body.append(form);
  form.submit();
}

/**
 * Chromium treats http://localhost as a secure context and keeps `Secure` (and so `__Host-`)
 * cookies set by it; the app page and the gateway are both on localhost (one site, two origins),
 * as with Keyward on a subdomain of the app's own site.
 */
describe.skipIf(!hasChromium())(
  'browser sessions in Chromium (needs chromium: apt-get install chromium)',
  () => {
    let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
    let kw: TestGateway;
    let gw: string;
    let app: PageServer;
    let sibling: PageServer;
    let foreign: PageServer;
    let browser: Browser;

    beforeAll(async () => {
      fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
      app = await servePage('<!doctype html><title>app</title>');
      sibling = await servePage('<!doctype html><title>sibling</title>');
      foreign = await servePage('<!doctype html><title>foreign</title>', '127.0.0.1');
      kw = await startTestGateway(
        {
          server: { cors: { origins: [app.origin] } },
          auth: { sessions: { sessionTtl: `${SESSION_TTL_SEC}s`, reuseGraceSec: 0 } },
          providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
          models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
        },
        { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
      );
      gw = kw.dataUrl.replace('127.0.0.1', 'localhost');
      browser = await launchChromium();
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      await kw?.close();
      await Promise.all([app, sibling, foreign].map((server) => server?.close()));
      await fake?.close();
    });

    async function code(userId: string): Promise<string> {
      const minted = await adminCall(kw.adminUrl, 'POST', '/admin/sessions', { userId });
      expect(minted.status).toBe(201);
      return minted.json.code;
    }

    async function openApp(context?: BrowserContext): Promise<Page> {
      const page = await (context ?? (await browser.newContext())).newPage();
      await page.goto(app.origin);
      return page;
    }

    /** What the page's own script sees of a call: status, a readable header, the body text. */
    function pageCall(page: Page, path: string, body?: unknown) {
      return page.evaluate(
        async ({ url, body }) => {
          const res = await fetch(url, {
            method: body === undefined ? 'GET' : 'POST',
            credentials: 'include',
            ...(body !== undefined && {
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(body),
            }),
          });
          return { status: res.status, requestId: res.headers.get('x-request-id'), text: await res.text() };
        },
        { url: `${gw}${path}`, body },
      );
    }

    /** Streams a chat completion the way an app would, refreshing once when the session has expired. */
    function streamChat(page: Page) {
      return page.evaluate(async (gw) => {
        const ask = () =>
          fetch(`${gw}/v1/chat/completions`, {
            method: 'POST',
            credentials: 'include',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              model: 'fast',
              stream: true,
              messages: [{ role: 'user', content: 'hi' }],
            }),
          });
        let res = await ask();
        let refreshed = false;
        if (res.status === 401) {
          const refresh = await fetch(`${gw}/auth/refresh`, { method: 'POST', credentials: 'include' });
          if (!refresh.ok) return { status: res.status, refreshed: false, text: await res.text() };
          refreshed = true;
          res = await ask();
        }
        const reader = res.body!.getReader();
        const decoder = new TextDecoder();
        let text = '';
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          text += decoder.decode(value, { stream: true });
        }
        return { status: res.status, refreshed, text };
      }, gw);
    }

    const login = (page: Page, value: string) => pageCall(page, '/auth/session', { code: value });
    const contentOf = (sse: string) =>
      sse
        .split('\n')
        .filter((line) => line.startsWith('data: {'))
        .map((line) => JSON.parse(line.slice(6)).choices[0]?.delta?.content ?? '')
        .join('');

    it('logs in with a code, streams, hides both cookies from script, refreshes, and stops after logout', async () => {
      const context = await browser.newContext();
      const page = await openApp(context);
      const loggedIn = await login(page, await code('alice'));
      expect(loggedIn.status).toBe(200);
      expect(JSON.parse(loggedIn.text).userId).toBe('alice');

      const cookies = await context.cookies(gw);
      expect(cookies.map((c) => c.name).sort()).toEqual(['__Host-keyward_refresh', '__Host-keyward_session']);
      for (const cookie of cookies) {
        expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax', path: '/' });
      }
      expect(await page.evaluate(() => document.cookie)).not.toContain('keyward');

      const first = await streamChat(page);
      expect(first.status).toBe(200);
      expect(first.refreshed).toBe(false);
      expect(contentOf(first.text)).toContain('Hello from the fake provider');
      expect(first.text).toContain('data: [DONE]');

      const models = await pageCall(page, '/v1/models');
      expect(models.status).toBe(200);
      expect(models.requestId).toMatch(/.+/);

      // Past the session cookie's lifetime the browser drops it; the refresh cookie renews it.
      await page.waitForTimeout(SESSION_TTL_SEC * 1000 + 500);
      const later = await streamChat(page);
      expect(later.refreshed).toBe(true);
      expect(later.status).toBe(200);
      expect(contentOf(later.text)).toContain('Hello from the fake provider');

      expect((await pageCall(page, '/auth/logout', {})).status).toBe(204);
      expect(await context.cookies(gw)).toEqual([]);
      const after = await streamChat(page);
      expect(after.status).toBe(401);
      await context.close();
    });

    it('is refused by CORS on a page of another origin', async () => {
      const page = await (await browser.newContext()).newPage();
      await page.goto(foreign.origin);
      const outcome = await page.evaluate(async (gw) => {
        try {
          await fetch(`${gw}/v1/models`, { credentials: 'include' });
          return 'read';
        } catch (error) {
          return (error as Error).name;
        }
      }, gw);
      expect(outcome).toBe('TypeError');
      await page.context().close();
    });

    it('refuses a cross-origin form post carrying the session cookie with 403', async () => {
      const context = await browser.newContext();
      const page = await openApp(context);
      expect((await login(page, await code('bob'))).status).toBe(200);
      expect((await pageCall(page, '/v1/models')).status).toBe(200);

      // A page on a sibling origin of the same site: the browser does send the Lax cookie with it.
      const attacker = await context.newPage();
      await attacker.goto(sibling.origin);
      const answered = attacker.waitForResponse((res) => res.url().startsWith(gw));
      await attacker.evaluate(postForm, gw);
      const response = await answered;
      expect(response.status()).toBe(403);
      expect(await response.request().headerValue('cookie')).toContain('__Host-keyward_session=');
      expect(JSON.parse(await response.text()).error.code).toBe('origin_not_allowed');

      // From another site the browser withholds the Lax cookie; the foreign origin is refused all the same.
      const crossSite = await context.newPage();
      await crossSite.goto(foreign.origin);
      const refused = crossSite.waitForResponse((res) => res.url().startsWith(gw));
      await crossSite.evaluate(postForm, gw);
      expect((await refused).status()).toBe(403);
      await context.close();
    });

    it('ends the whole login when a stolen, already replaced refresh token is replayed', async () => {
      const context = await browser.newContext();
      const page = await openApp(context);
      expect((await login(page, await code('carol'))).status).toBe(200);
      const stolen = (await context.cookies(gw)).find((c) => c.name === '__Host-keyward_refresh')!;

      expect((await pageCall(page, '/auth/refresh', {})).status).toBe(200);
      expect((await pageCall(page, '/v1/models')).status).toBe(200);

      const thief = await browser.newContext();
      await thief.addCookies([stolen]);
      const thiefPage = await openApp(thief);
      expect((await pageCall(thiefPage, '/auth/refresh', {})).status).toBe(401);

      expect((await pageCall(page, '/v1/models')).status).toBe(401);
      expect((await pageCall(page, '/auth/refresh', {})).status).toBe(401);
      await thief.close();
      await context.close();
    });
  },
);
