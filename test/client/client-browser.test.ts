import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as KeywardModule from '../../src/client/index.js';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { bundleClient, hasChromium, launchChromium, PAGE_HTML, waitForSdk } from '../support/chromium.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { freePort } from '../support/free-port.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

// What the page's script sees; declared here, for this file only (the project's lib has no DOM).
declare const window: { Keyward: typeof KeywardModule };
declare const location: { origin: string };
declare const document: { cookie: string };

const chatBody = { model: 'fast', messages: [{ role: 'user', content: 'Hi' }] };

describe.skipIf(!hasChromium())(
  'keyward/client in Chromium (needs chromium: apt-get install chromium)',
  () => {
    let browser: Browser;
    let sdk: string;
    let fake: FakeProvider;
    let kw: TestGateway;

    /** A page on the gateway's own origin (the page and the SDK bundle are served by the test). */
    async function openOn(origin: string): Promise<Page> {
      const page = await browser.newPage();
      await page.route(`${origin}/__sdk__/**`, (route) => {
        const script = route.request().url().endsWith('/sdk.js');
        return route.fulfill({
          contentType: script ? 'text/javascript' : 'text/html',
          body: script ? sdk : PAGE_HTML,
        });
      });
      await page.goto(`${origin}/__sdk__/index.html`);
      await waitForSdk(page);
      return page;
    }

    beforeAll(async () => {
      [browser, sdk, fake] = await Promise.all([
        launchChromium(),
        bundleClient(),
        startFakeProvider('openai', { keys: [PROVIDER_KEY] }),
      ]);
      kw = await startTestGateway(
        {
          auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
          providers: [
            {
              id: 'oa',
              type: 'openai',
              baseUrl: fake.baseUrl,
              keys: { env: 'P_KEY' },
              retries: { maxAttempts: 1 },
            },
          ],
          models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
        },
        { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
      );
    });
    afterAll(async () => {
      await browser?.close();
      await kw?.close();
      await fake?.close();
    });

    it('streams a chat completion as deltas with the final usage', async () => {
      fake.script({
        blocks: [{ type: 'text', text: 'Streaming in a browser.' }],
        stop: 'end',
        usage: { input: 6, output: 5 },
        chunkSize: 4,
      });
      const page = await openOn(kw.dataUrl);
      const result = await page.evaluate(
        async ({ key, body }) => {
          const client = new window.Keyward.KeywardClient({ baseUrl: location.origin, apiKey: key });
          const parts: string[] = [];
          let usage: unknown;
          for await (const delta of client.chat.completions.stream(body)) {
            parts.push(delta.content);
            usage = delta.usage ?? usage;
          }
          return { parts, usage };
        },
        { key: CLIENT_KEY, body: chatBody },
      );
      expect(result.parts.join('')).toBe('Streaming in a browser.');
      expect(result.parts.filter(Boolean).length).toBeGreaterThan(3);
      expect(result.usage).toMatchObject({ prompt_tokens: 6, completion_tokens: 5, total_tokens: 11 });
      await page.close();
    });

    it('retries a 429 after its Retry-After, in order, and reports the last one as a typed error', async () => {
      const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
        name: 'browser',
        limits: { rpm: 1 },
      });
      const page = await openOn(kw.dataUrl);
      const result = await page.evaluate(
        async ({ token, body }) => {
          const attempts: number[] = [];
          const waits: number[] = [];
          const client = new window.Keyward.KeywardClient({
            baseUrl: location.origin,
            apiKey: token,
            maxRetries: 2,
            maxRetryDelayMs: 120_000,
            fetch: (input: Parameters<typeof fetch>[0], init?: RequestInit) =>
              fetch(input, init).then((response) => {
                attempts.push(response.status);
                return response;
              }),
            sleep: async (ms: number) => {
              waits.push(ms);
            },
          });
          await client.chat.completions.create(body);
          try {
            await client.chat.completions.create(body);
            return { attempts, waits, error: null };
          } catch (error) {
            const e = error as InstanceType<typeof window.Keyward.KeywardError>;
            return {
              attempts,
              waits,
              error: {
                typed: error instanceof window.Keyward.KeywardError,
                status: e.status,
                type: e.type,
                requestId: e.requestId,
                retryAfter: e.retryAfter,
              },
            };
          }
        },
        { token: minted.json.token as string, body: chatBody },
      );
      expect(result.attempts).toEqual([200, 429, 429, 429]);
      expect(result.error).toMatchObject({ typed: true, status: 429, type: 'rate_limit_error' });
      expect(result.error!.requestId).toMatch(/\S+/);
      expect(result.waits).toEqual([result.error!.retryAfter! * 1000, result.error!.retryAfter! * 1000]);
      await page.close();
    });

    it('aborts a stream mid-way, and types a refused credential', async () => {
      fake.script({
        blocks: [{ type: 'text', text: 'An answer the page stops reading early.' }],
        stop: 'end',
        usage: { input: 6, output: 9 },
        chunkSize: 3,
      });
      const page = await openOn(kw.dataUrl);
      const result = await page.evaluate(
        async ({ key, body }) => {
          const { KeywardClient, KeywardError } = window.Keyward;
          const controller = new AbortController();
          const seen: string[] = [];
          let aborted = '';
          try {
            const client = new KeywardClient({ baseUrl: location.origin, apiKey: key });
            for await (const delta of client.chat.completions.stream(body, { signal: controller.signal })) {
              seen.push(delta.content);
              if (seen.length === 2) controller.abort();
            }
          } catch (error) {
            aborted = (error as InstanceType<typeof KeywardError>).type;
          }
          let refused: Record<string, unknown> = {};
          try {
            await new KeywardClient({
              baseUrl: location.origin,
              apiKey: 'kw-not-a-valid-key-0000000',
            }).rateLimitStatus();
          } catch (error) {
            const e = error as InstanceType<typeof KeywardError>;
            refused = { typed: error instanceof KeywardError, status: e.status, code: e.code };
          }
          return { seen: seen.length, aborted, refused };
        },
        { key: CLIENT_KEY, body: chatBody },
      );
      expect(result).toEqual({
        seen: 2,
        aborted: 'aborted',
        refused: { typed: true, status: 401, code: 'invalid_credential' },
      });
      await page.close();
    });

    it('logs in with a code from the gateway, refreshes its expired session transparently, and keeps cookies from script', async () => {
      // The page is served on the gateway's own origin, which must be an allowed origin for cookie
      // requests: the port is chosen first so that the configuration can name it.
      const port = await freePort();
      const origin = `http://localhost:${port}`;
      const sessions = await startTestGateway(
        {
          server: { port, cors: { origins: [origin] } },
          auth: { sessions: { sessionTtl: '2s' } },
          providers: [{ id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'P_KEY' } }],
          models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
        },
        { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
      );
      try {
        const minted = await adminCall(sessions.adminUrl, 'POST', '/admin/sessions', {
          userId: 'browser-user',
          scopes: ['chat'],
          models: ['fast'],
        });
        expect(minted.status).toBe(201);
        const page = await openOn(origin);
        const first = await page.evaluate(async (code) => {
          const client = new window.Keyward.KeywardClient({ baseUrl: location.origin });
          await client.sessions.login(code);
          return { cookie: document.cookie, session: await client.sessions.current() };
        }, minted.json.code as string);
        expect(first.cookie).toBe('');
        expect(first.session).toMatchObject({ userId: 'browser-user' });
        // Past the session cookie's lifetime, the SDK refreshes once and the call is served.
        await new Promise((resolve) => setTimeout(resolve, 2_500));
        const before = sessions.logs.length;
        const reply = await page.evaluate(async (body) => {
          const client = new window.Keyward.KeywardClient({ baseUrl: location.origin });
          const answer = await client.chat.completions.create(body);
          return { content: answer.choices[0]?.message.content, cookie: document.cookie };
        }, chatBody);
        expect(reply.content).toBeTruthy();
        expect(reply.cookie).toBe('');
        // The gateway's request log lines after the wait: one refused call, one refresh, one retry.
        const requests = () =>
          sessions.logs
            .slice(before)
            .flatMap((written) => written.split('\n').filter(Boolean))
            .flatMap((line) => {
              const entry = JSON.parse(line) as { route?: string; status?: number; reqId?: string };
              return entry.reqId && entry.route ? [`${entry.route} ${entry.status}`] : [];
            });
        await expect
          .poll(requests)
          .toEqual(['/v1/chat/completions 401', '/auth/refresh 200', '/v1/chat/completions 200']);
        await page.close();
      } finally {
        await sessions.close();
      }
    });
  },
);
