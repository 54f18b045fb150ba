import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_KEY } from '../support/admin.js';
import { hasChromium, launchChromium } from '../support/chromium.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { chatStatus, startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/** Names every JavaScript object answers to without holding them. */
const INHERITED = ['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf'];

describe.skipIf(!hasChromium())(
  'the admin dashboard and names every object inherits (needs chromium: apt-get install chromium)',
  () => {
    let browser: Browser;
    let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
    let kw: TestGateway;
    let origin: string;
    const problems: string[] = [];

    beforeAll(async () => {
      [browser, fake] = await Promise.all([launchChromium(), startFakeOpenAI({ keys: [PROVIDER_KEY] })]);
      kw = await startTestGateway(
        {
          auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
          providers: [{ id: 'oa', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
          models: [
            { name: 'fast', provider: 'oa', model: 'gpt-4o-mini' },
            // An alias an operator may name so: its traffic is a key of the live statistics.
            { name: 'constructor', provider: 'oa', model: 'gpt-4o-mini' },
          ],
        },
        { KEYWARD_API_KEY: CLIENT_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY, P_KEY: PROVIDER_KEY },
      );
      // `localhost` is a secure context to Chromium, so it keeps the `__Host-` (Secure) cookie over http.
      origin = kw.adminUrl.replace('127.0.0.1', 'localhost');
    });
    afterAll(async () => {
      await browser?.close();
      await kw?.close();
      await fake?.close();
    });
    beforeEach(() => {
      problems.length = 0;
    });

    async function loggedIn(width = 1280): Promise<Page> {
      const page = await browser.newPage({ viewport: { width, height: 900 } });
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console: ${message.text()}`);
      });
      page.on('pageerror', (error) => problems.push(`page: ${error.message}`));
      await page.goto(`${origin}/admin/ui/`);
      await page.getByLabel('Admin key or admin token').fill(ADMIN_KEY);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('navigation', { name: 'Dashboard' }).waitFor();
      return page;
    }

    it('shows the overview for #/constructor and other inherited names, opened or navigated to', async () => {
      const page = await loggedIn();
      try {
        for (const name of INHERITED) {
          await page.goto(`${origin}/admin/ui/#/tokens`);
          await page.reload();
          await page.getByRole('heading', { level: 1, name: 'Tokens' }).waitFor();
          // Through `hashchange`, then as the page first opened.
          await page.goto(`${origin}/admin/ui/#/${name}`);
          await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor({ timeout: 5_000 });
          await page.reload();
          await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor({ timeout: 5_000 });
          expect(await page.locator('main').textContent()).not.toContain('[object Object]');
        }
      } finally {
        await page.close();
      }
      expect(problems).toEqual([]);
    });

    it('charts an alias named constructor as 0 requests in the seconds it had none, not NaN', async () => {
      // Two seconds: one with a request to `fast` only, one with a request to `constructor` only.
      expect(await chatStatus(kw, CLIENT_KEY)).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const res = await fetch(`${kw.dataUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'constructor', messages: [{ role: 'user', content: 'hi' }] }),
      });
      await res.arrayBuffer();
      expect(res.status).toBe(200);
      // Wide enough for each second of the hour to have a pixel: the legend then tells each apart.
      const page = await loggedIn(8_000);
      try {
        const chart = page.getByRole('img', { name: 'Requests per second by model, last hour' });
        await chart.getByText('constructor').waitFor();
        const over = chart.locator('.u-over');
        await over.scrollIntoViewIfNeeded();
        const box = (await over.boundingBox())!;
        const legends = new Set<string>();
        // From now back, under the cursor second by second, until the second of the `fast` request.
        for (let dx = 1; dx < 400 && ![...legends].some((l) => /fast ?1/.test(l)); dx++) {
          await page.mouse.move(box.x + box.width - dx, box.y + box.height / 2);
          legends.add(((await chart.locator('.u-legend').textContent()) ?? '').replace(/\s+/g, ' '));
        }
        expect([...legends].filter((l) => /fast ?1/.test(l))).toEqual([
          expect.stringMatching(/constructor ?0$/),
        ]);
        expect([...legends].filter((l) => l.includes('NaN'))).toEqual([]);
      } finally {
        await page.close();
      }
      expect(problems).toEqual([]);
    });
  },
);
