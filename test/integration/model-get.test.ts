import { ApiError, GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * One model by name: `@google/genai`'s `models.get` under `v1beta` and `v1` (the path it shares
 * with OpenAI's retrieve) and the `openai` SDK's `models.retrieve`, which sends a `provider/model`
 * name URL-encoded. A model is found as a chat request naming it is routed and allowed, whether or
 * not the listing shows it; one the credential may not use is as unknown as a name that is.
 */

const OPENAI_KEY = 'sk-model-get-openai-key-0123456789abcd';

/** Names that route although no listing shows them: a failed list, a list without the model, a
 * passthrough provider (nothing to list with), a wildcard alias. */
const UNLISTED = [
  { name: 'anthropic/claude-sonnet-4-5', provider: 'anthropic' },
  { name: 'openai/gpt-5-preview', provider: 'openai' },
  { name: 'byok/own-model', provider: 'byok' },
  { name: 'claude-opus-9', provider: 'anthropic' },
];

describe('one model by name', () => {
  const fakes: FakeProvider[] = [];
  let kw: TestGateway;
  let clients: Array<{ version: string; ai: (key?: string) => GoogleGenAI }>;
  const openai = (apiKey = CLIENT_KEY) => new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey, maxRetries: 0 });
  const mint = async (spec: Record<string, unknown>): Promise<string> =>
    (await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'model-get', ...spec })).json.token;
  const get = (path: string, headers: Record<string, string>) =>
    request(`${kw.dataUrl}${path}`, { headers }).then(async (res) => ({
      status: res.statusCode,
      json: (await res.body.json()) as { error: Record<string, unknown> },
    }));

  beforeAll(async () => {
    const openaiFake = await startFakeProvider('openai', { keys: [OPENAI_KEY] });
    // Its keys refuse the gateway's: the model list fails.
    const anthropicFake = await startFakeProvider('anthropic', {
      keys: ['sk-ant-another-key-0123456789abc'],
    });
    const byokFake = await startFakeProvider('openai');
    fakes.push(openaiFake, anthropicFake, byokFake);
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          { id: 'openai', type: 'openai', baseUrl: openaiFake.baseUrl, keys: { env: 'OPENAI_KEY' } },
          { id: 'anthropic', type: 'anthropic', baseUrl: anthropicFake.baseUrl, keys: { env: 'OPENAI_KEY' } },
          { id: 'byok', type: 'openai-compatible', baseUrl: byokFake.baseUrl, keys: { passthrough: true } },
        ],
        models: [
          { name: 'fast', provider: 'openai', model: 'gpt-4o-mini' },
          { name: 'claude-*', provider: 'anthropic', model: '*' },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY, OPENAI_KEY },
    );
    const httpOptions = { baseUrl: kw.dataUrl };
    clients = [
      { version: 'v1beta', ai: (apiKey = CLIENT_KEY) => new GoogleGenAI({ apiKey, httpOptions }) },
      {
        version: 'v1',
        ai: (apiKey = CLIENT_KEY) => new GoogleGenAI({ apiKey, apiVersion: 'v1', httpOptions }),
      },
    ];
  });
  afterAll(async () => {
    await kw?.close();
    await Promise.all(fakes.map((fake) => fake.close()));
  });

  it("answers a listed model and an alias in Gemini's shape under v1beta and v1, and in OpenAI's", async () => {
    for (const { version, ai } of clients) {
      for (const model of ['openai/gpt-4o', 'models/openai/gpt-4o']) {
        const found = await ai().models.get({ model });
        expect(found, `${version} ${model}`).toMatchObject({
          name: 'models/openai/gpt-4o',
          displayName: 'openai/gpt-4o',
          description: 'openai/gpt-4o through Keyward (provider openai)',
          supportedActions: expect.arrayContaining([
            'generateContent',
            'streamGenerateContent',
            'embedContent',
          ]),
        });
      }
      expect((await ai().models.get({ model: 'fast' })).name, version).toBe('models/fast');
    }

    const listed = (await openai().models.list()).data;
    const created = listed[0]!.created;
    expect(await openai().models.retrieve('openai/gpt-4o')).toEqual({
      id: 'openai/gpt-4o',
      object: 'model',
      created,
      owned_by: 'openai',
    });
    expect(await openai().models.retrieve('fast')).toEqual(listed.find((m) => m.id === 'fast'));
    // The SDK sends the name URL-encoded, as a client writing the path itself may.
    const raw = await get('/v1/models/openai%2Fgpt-4o', { authorization: `Bearer ${CLIENT_KEY}` });
    expect(raw).toMatchObject({ status: 200, json: { id: 'openai/gpt-4o' } });
  });

  it('answers a model a chat request would be routed with, though no listing shows it', async () => {
    const listed = (await openai().models.list()).data.map((m) => m.id);
    for (const { name, provider } of UNLISTED) {
      expect(listed).not.toContain(name);
      for (const { version, ai } of clients) {
        const found = await ai().models.get({ model: name });
        expect(found, `${version} ${name}`).toMatchObject({
          name: `models/${name}`,
          description: `${name} through Keyward (provider ${provider})`,
        });
      }
      expect(await openai().models.retrieve(name)).toMatchObject({
        id: name,
        object: 'model',
        owned_by: provider,
      });
    }
  });

  it('keeps a model the credential may not use as unknown as a name that routes nowhere', async () => {
    const openaiOnly = await mint({ providers: ['openai'] });
    const fastOnly = await mint({ models: ['fast'] });
    const cases = [
      {
        token: openaiOnly,
        hidden: ['anthropic/claude-sonnet-4-5', 'claude-opus-9'],
        usable: 'openai/gpt-4o',
      },
      { token: fastOnly, hidden: ['openai/gpt-4o', 'openai/gpt-5-preview'], usable: 'fast' },
    ];
    const unknown = 'mistral/large';
    for (const { token, hidden, usable } of cases) {
      // Routed but refused to a chat request: the gateway knows the model and does not say so here.
      const chat = await openai(token)
        .chat.completions.create({ model: hidden[0]!, messages: [{ role: 'user', content: 'hi' }] })
        .catch((error: unknown) => error);
      expect(chat).toMatchObject({ status: 403, code: 'model_not_allowed' });

      for (const name of [...hidden, unknown]) {
        const refused = await openai(token)
          .models.retrieve(name)
          .catch((error: unknown) => error);
        expect(refused, name).toBeInstanceOf(OpenAI.NotFoundError);
        expect(refused).toMatchObject({
          code: 'model_not_found',
          message: `404 The model '${name}' does not exist or is not available to this credential; GET /v1/models lists the models it may use`,
        });
        for (const { version, ai } of clients) {
          const error = await ai(token)
            .models.get({ model: name })
            .catch((e: unknown) => e);
          expect(error, `${version} ${name}`).toBeInstanceOf(ApiError);
          expect((error as ApiError).status).toBe(404);
          expect((error as ApiError).message).toContain(
            `The model '${name}' does not exist or is not available`,
          );
        }
        // A Gemini client reads Google's envelope on the path OpenAI shares.
        const gemini = await get(`/v1/models/${name}`, { 'x-goog-api-key': token });
        expect(gemini).toMatchObject({ status: 404, json: { error: { code: 404, status: 'NOT_FOUND' } } });
        const bearer = await get(`/v1/models/${name}`, { authorization: `Bearer ${token}` });
        expect(bearer.json.error).toMatchObject({ type: 'not_found_error', code: 'model_not_found' });
      }
      expect((await openai(token).models.retrieve(usable)).id).toBe(usable);
      for (const { ai } of clients)
        expect((await ai(token).models.get({ model: usable })).name).toBe(`models/${usable}`);
    }
  });

  it("needs the 'models:read' scope, in either envelope", async () => {
    const chatOnly = await mint({ scopes: ['chat'] });
    const refused = await openai(chatOnly)
      .models.retrieve('openai/gpt-4o')
      .catch((error: unknown) => error);
    expect(refused).toMatchObject({ status: 403, code: 'insufficient_scope' });
    for (const { ai } of clients) {
      await expect(ai(chatOnly).models.get({ model: 'openai/gpt-4o' })).rejects.toMatchObject({
        status: 403,
      });
    }
    const gemini = await get('/v1/models/openai/gpt-4o', { 'x-goog-api-key': chatOnly });
    expect(gemini.json.error).toMatchObject({ code: 403, status: 'PERMISSION_DENIED' });
  });
});
