import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { PROVIDER_KEY } from '../support/setup.js';

/**
 * Names a credential or a request carries (a user id, a model) that are also names of
 * `Object.prototype`'s members: the configuration's records are looked up by their own keys only.
 */
describe("names of Object.prototype's members", () => {
  let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
  let kw: TestGateway;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    const keys = { env: 'PROVIDER_KEY' };
    kw = await startTestGateway(
      {
        providers: [
          { id: 'oa', type: 'openai', baseUrl: `${fake.url}/v1`, keys },
          {
            id: 'az',
            type: 'azure-openai',
            baseUrl: `${fake.url}/openai`,
            apiVersion: '2024-10-21',
            deployments: { 'gpt-4o': 'prod' },
            keys,
          },
        ],
        budgets: { users: { ann: { usd: 5, period: 'day' } } },
      },
      { PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await fake?.close();
  });

  it.each(['constructor', 'toString', 'hasOwnProperty', 'valueOf'])(
    "gives the user '%s' no budget it was not configured, and serves it",
    async (userId) => {
      const { token } = (await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: userId, userId }))
        .json;
      const status = await request(`${kw.dataUrl}/v1/rate-limit-status`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(status.statusCode).toBe(200);
      expect(((await status.body.json()) as { budgets: unknown[] }).budgets).toEqual([]);
      // An unpriced model is refused only to a credential held to a budget.
      const openai = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: token, maxRetries: 0 });
      const reply = await openai.chat.completions.create({
        model: 'oa/an-unpriced-model',
        messages: [{ role: 'user', content: 'Hi' }],
      });
      expect(reply.choices[0]?.message.content).toBeTruthy();
    },
  );

  it('sends an Azure model named like a member to the deployment of that name', async () => {
    const { token } = (await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'az' })).json;
    const openai = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: token, maxRetries: 0 });
    const from = fake.requests.length;
    await openai.chat.completions.create({
      model: 'az/toString',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(fake.requests[from]?.url).toBe(
      '/openai/deployments/toString/chat/completions?api-version=2024-10-21',
    );
  });
});
