import type { ConfigInput } from '../../src/config/schema.js';
import { startFakeOpenAI } from './fake-openai.js';
import { startTestGateway, type TestGateway } from './gateway.js';

export const CLIENT_KEY = 'kw-test-client-key-7f3a9c2e5b1d4086';
export const PROVIDER_KEY = 'sk-test-provider-key-9b8a7c6d5e4f3a2b';

export type FakeProvider = Awaited<ReturnType<typeof startFakeOpenAI>>;

export interface Stack {
  fake: FakeProvider;
  kw: TestGateway;
  close(): Promise<void>;
}

type ProviderOverrides = Partial<NonNullable<ConfigInput['providers']>[number]>;

/**
 * A fake OpenAI provider and a gateway in front of it: provider `fake` (key PROVIDER_KEY), alias
 * `fast` → `gpt-4o-mini`, client key CLIENT_KEY. `provider` overrides fields of the provider block.
 */
export async function startStack(
  options: { provider?: ProviderOverrides; config?: Partial<ConfigInput>; env?: NodeJS.ProcessEnv } = {},
): Promise<Stack> {
  const fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
  const kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      logging: { level: 'debug' },
      providers: [
        {
          id: 'fake',
          type: 'openai',
          baseUrl: `${fake.url}/v1`,
          keys: { env: 'FAKE_PROVIDER_KEY' },
          retries: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 200 },
          ...options.provider,
        },
      ],
      models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
      ...options.config,
    },
    { KEYWARD_API_KEY: CLIENT_KEY, FAKE_PROVIDER_KEY: PROVIDER_KEY, ...options.env },
  );
  return {
    fake,
    kw,
    async close() {
      await kw.close();
      await fake.close();
    },
  };
}
