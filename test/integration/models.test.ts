import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

const KEYS = {
  openai: 'sk-models-openai-key-0123456789abcdef',
  anthropic: 'sk-ant-models-key-0123456789abcdef',
  gemini: 'AIza-models-gemini-key-0123456789ab',
};

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function fake(format: 'openai' | 'anthropic' | 'gemini' | 'ollama', keys?: string[]) {
  const provider = await startFakeProvider(format, keys ? { keys } : {});
  cleanups.push(() => provider.close());
  return provider;
}

async function gateway(config: Parameters<typeof startTestGateway>[0], env: NodeJS.ProcessEnv = {}) {
  const kw = await startTestGateway(
    { auth: { apiKeys: { env: 'KEYWARD_API_KEY' } }, ...config },
    { KEYWARD_API_KEY: CLIENT_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY, ...env },
  );
  cleanups.push(() => kw.close());
  return kw;
}

const client = (kw: TestGateway, apiKey = CLIENT_KEY) =>
  new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey, maxRetries: 0 });

const listRequests = (provider: FakeProvider, path: string) =>
  provider.requests.filter((r) => r.method === 'GET' && r.path.startsWith(path)).length;

describe('model names', () => {
  it('lists the aliases and every provider’s own models, read with the gateway’s keys and cached', async () => {
    const openai = await fake('openai', [KEYS.openai]);
    const anthropic = await fake('anthropic', [KEYS.anthropic]);
    const gemini = await fake('gemini', [KEYS.gemini]);
    const ollama = await fake('ollama');
    const kw = await gateway(
      {
        providers: [
          { id: 'openai', type: 'openai', baseUrl: openai.baseUrl, keys: { env: 'OPENAI_KEY' } },
          { id: 'anthropic', type: 'anthropic', baseUrl: anthropic.baseUrl, keys: { env: 'ANTHROPIC_KEY' } },
          { id: 'gemini', type: 'gemini', baseUrl: gemini.baseUrl, keys: { env: 'GEMINI_KEY' } },
          { id: 'local', type: 'ollama', baseUrl: ollama.baseUrl },
        ],
        models: [
          { name: 'fast', provider: 'openai', model: 'gpt-4o-mini' },
          { name: 'claude-*', provider: 'anthropic', model: '*' },
        ],
      },
      { OPENAI_KEY: KEYS.openai, ANTHROPIC_KEY: KEYS.anthropic, GEMINI_KEY: KEYS.gemini },
    );
    const ids = [];
    for await (const model of client(kw).models.list()) ids.push(model.id);
    expect(ids).toEqual([
      'fast',
      'openai/gpt-4o',
      'openai/gpt-4o-mini',
      'openai/text-embedding-3-small',
      'anthropic/claude-haiku-4-5',
      'anthropic/claude-sonnet-4-5',
      'gemini/gemini-2.5-flash',
      'gemini/gemini-2.5-pro',
      'gemini/text-embedding-004',
      'local/llama3.2:latest',
      'local/nomic-embed-text:latest',
    ]);
    // Each provider was asked once, in its own format, with the gateway's key (the fakes refuse others).
    expect(listRequests(openai, '/v1/models')).toBe(1);
    expect(listRequests(anthropic, '/v1/models')).toBe(1);
    expect(anthropic.requests.at(-1)?.headers['anthropic-version']).toBe('2023-06-01');
    expect(listRequests(gemini, '/v1beta/models')).toBe(1);
    expect(gemini.requests.at(-1)?.path).not.toContain('key=');
    expect(listRequests(ollama, '/api/tags')).toBe(1);

    await client(kw).models.list();
    expect(listRequests(openai, '/v1/models')).toBe(1);

    // A listed name works as it is listed.
    const reply = await client(kw).chat.completions.create({
      model: 'gemini/gemini-2.5-pro',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(reply.choices[0]?.message.content).toBe('Hello from the fake provider.');
  });

  it('keeps listing when a provider’s model list fails, and says why in the log only', async () => {
    const openai = await fake('openai', [KEYS.openai]);
    const anthropic = await fake('anthropic', ['sk-ant-some-other-key-0123456789']);
    const kw = await gateway(
      {
        providers: [
          { id: 'openai', type: 'openai', baseUrl: openai.baseUrl, keys: { env: 'OPENAI_KEY' } },
          { id: 'anthropic', type: 'anthropic', baseUrl: anthropic.baseUrl, keys: { env: 'ANTHROPIC_KEY' } },
        ],
        models: [{ name: 'fast', provider: 'openai', model: 'gpt-4o-mini' }],
      },
      { OPENAI_KEY: KEYS.openai, ANTHROPIC_KEY: KEYS.anthropic },
    );
    const page = await client(kw).models.list();
    expect(page.data.map((m) => m.id)).toEqual([
      'fast',
      'openai/gpt-4o',
      'openai/gpt-4o-mini',
      'openai/text-embedding-3-small',
    ]);
    const warning = kw.logs.find((line) => line.includes("cannot read the provider's model list"));
    expect(warning).toContain('"provider":"anthropic"');
    expect(warning).toContain('answered 401');
    expect(warning).not.toContain(KEYS.anthropic);
  });

  it('lists only what a token may use', async () => {
    const openai = await fake('openai', [KEYS.openai]);
    const anthropic = await fake('anthropic', [KEYS.anthropic]);
    const kw = await gateway(
      {
        providers: [
          { id: 'openai', type: 'openai', baseUrl: openai.baseUrl, keys: { env: 'OPENAI_KEY' } },
          { id: 'anthropic', type: 'anthropic', baseUrl: anthropic.baseUrl, keys: { env: 'ANTHROPIC_KEY' } },
        ],
        models: [
          { name: 'fast', provider: 'openai', model: 'gpt-4o-mini' },
          { name: 'smart', provider: 'anthropic', model: 'claude-sonnet-4-5' },
        ],
      },
      { OPENAI_KEY: KEYS.openai, ANTHROPIC_KEY: KEYS.anthropic },
    );
    const narrow = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: 'narrow',
      providers: ['openai'],
    });
    const page = await client(kw, narrow.json.token).models.list();
    expect(page.data.map((m) => m.id)).toEqual([
      'fast',
      'openai/gpt-4o',
      'openai/gpt-4o-mini',
      'openai/text-embedding-3-small',
    ]);
    const named = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: 'named',
      models: ['smart', 'openai/gpt-4o'],
    });
    const few = await client(kw, named.json.token).models.list();
    expect(few.data.map((m) => m.id)).toEqual(['smart', 'openai/gpt-4o']);
  });

  it('answers an unknown model with what would work', async () => {
    const openai = await fake('openai', [KEYS.openai]);
    const kw = await gateway(
      {
        providers: [{ id: 'openai', type: 'openai', baseUrl: openai.baseUrl, keys: { env: 'OPENAI_KEY' } }],
        models: [{ name: 'fast', provider: 'openai', model: 'gpt-4o-mini' }],
      },
      { OPENAI_KEY: KEYS.openai },
    );
    const refused = async (model: string) => {
      const error = await client(kw)
        .chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      const { status, code, message } = error as InstanceType<typeof OpenAI.NotFoundError>;
      expect({ status, code }).toEqual({ status: 404, code: 'model_not_found' });
      return message;
    };
    expect(await refused('gpt-4o-mini')).toBe(
      "404 The model 'gpt-4o-mini' does not exist or is not available: try 'openai/gpt-4o-mini'; aliases: fast; GET /v1/models lists the models this credential may use",
    );
    for (const model of ['gemini-2.5-pro', 'gemini/gemini-2.5-pro']) {
      const message = await refused(model);
      expect(message).toContain(
        'provider gemini is not configured (set GEMINI_API_KEY, or add a provider of type gemini to the config file)',
      );
      expect(message).toContain('aliases: fast');
    }
    expect(await refused('mistral/large')).toContain(
      "provider 'mistral' is not configured; configured providers: openai",
    );
    expect(await refused('my-finetune')).toContain("name it as provider/model, such as 'openai/my-finetune'");
  });
});
