import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { logRecords, startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/** The key a client made for OpenAI, sent for its passthrough provider. */
const CLIENT_OWN_KEY = 'sk-client-own-openai-SECRET-1234567890ab';

let kw: TestGateway | undefined;
let fakes: Array<FakeOpenAI | FakeProvider> = [];
afterEach(async () => {
  await kw?.close();
  await Promise.all(fakes.map((fake) => fake.close()));
  kw = undefined;
  fakes = [];
});

async function chat(gateway: TestGateway, model: string, headers: Record<string, string> = {}) {
  const res = await request(`${gateway.dataUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  return { status: res.statusCode, json: (await res.body.json()) as { error?: { code: string } } };
}

/** The providers line of the start banner. */
function bannerProviders(gateway: TestGateway): unknown {
  return logRecords(gateway.logs).find((line) => line.banner === true)?.providers;
}

describe("a client's own provider key", () => {
  it('reaches its passthrough provider only, never a keyless fallback of the same route', async () => {
    const openai = await startFakeOpenAI();
    const vllm = await startFakeOpenAI();
    fakes = [openai, vllm];
    openai.script({ status: 503, body: { error: { message: 'overloaded', type: 'server_error' } } });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          {
            id: 'openai',
            type: 'openai',
            baseUrl: `${openai.url}/v1`,
            keys: { passthrough: true },
            retries: { maxAttempts: 1 },
          },
          { id: 'vllm', type: 'openai-compatible', baseUrl: `${vllm.url}/v1` },
        ],
        models: [
          {
            name: 'fast',
            provider: 'openai',
            model: 'gpt-4o-mini',
            fallbacks: [{ provider: 'vllm', model: 'llama' }],
          },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY },
    );

    const answer = await chat(kw, 'fast', { 'x-provider-api-key': CLIENT_OWN_KEY });
    expect(answer.status).toBe(200);
    // Its own provider got it; the fallback, which has no `keys` block, got no key at all.
    expect(openai.requests.map((r) => r.headers.authorization)).toEqual([`Bearer ${CLIENT_OWN_KEY}`]);
    expect(vllm.requests).toHaveLength(1);
    expect(vllm.requests[0]?.headers.authorization).toBeUndefined();
    expect(JSON.stringify(vllm.requests[0]?.headers)).not.toContain('SECRET');

    expect(bannerProviders(kw)).toEqual([
      'openai (openai, keys: passthrough)',
      'vllm (openai-compatible, keys: none)',
    ]);
  });

  it('is not sent to a keyless Ollama or OpenAI-compatible server named directly; both still serve', async () => {
    const ollama = await startFakeProvider('ollama');
    const compatible = await startFakeOpenAI();
    fakes = [ollama, compatible];
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          { id: 'local', type: 'ollama', baseUrl: ollama.url },
          { id: 'vllm', type: 'openai-compatible', baseUrl: `${compatible.url}/v1` },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY },
    );

    const asked: Record<string, string>[] = [{}, { 'x-provider-api-key': CLIENT_OWN_KEY }];
    for (const headers of asked) {
      expect((await chat(kw, 'local/llama3', headers)).status).toBe(200);
      expect((await chat(kw, 'vllm/llama', headers)).status).toBe(200);
    }
    const chats = ollama.requests.filter((r) => r.path === '/api/chat');
    expect(chats).toHaveLength(2);
    expect(compatible.requests).toHaveLength(2);
    for (const sent of [...chats, ...compatible.requests]) expect(sent.headers.authorization).toBeUndefined();
    // A provider that takes no key does not make the gateway wait for one.
    expect((await request(`${kw.adminUrl}/ready`)).statusCode).toBe(200);
    expect(bannerProviders(kw)).toEqual([
      'local (ollama, keys: none)',
      'vllm (openai-compatible, keys: none)',
    ]);
  });

  it('still reaches an explicit passthrough Ollama or OpenAI-compatible provider, which may go without one', async () => {
    const ollama = await startFakeProvider('ollama');
    const compatible = await startFakeOpenAI();
    fakes = [ollama, compatible];
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          { id: 'local', type: 'ollama', baseUrl: ollama.url, keys: { passthrough: true } },
          {
            id: 'vllm',
            type: 'openai-compatible',
            baseUrl: `${compatible.url}/v1`,
            keys: { passthrough: true },
          },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY },
    );

    expect((await chat(kw, 'local/llama3', { 'x-provider-api-key': CLIENT_OWN_KEY })).status).toBe(200);
    expect((await chat(kw, 'vllm/llama', { 'x-provider-api-key': CLIENT_OWN_KEY })).status).toBe(200);
    expect((await chat(kw, 'vllm/llama')).status).toBe(200);
    expect(ollama.requests.filter((r) => r.path === '/api/chat').map((r) => r.headers.authorization)).toEqual(
      [`Bearer ${CLIENT_OWN_KEY}`],
    );
    expect(compatible.requests.map((r) => r.headers.authorization)).toEqual([
      `Bearer ${CLIENT_OWN_KEY}`,
      undefined,
    ]);
  });
});
