import { type FakeProvider, startFakeProvider } from './fake-providers/server.js';
import { startTestGateway, type TestGateway } from './gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from './setup.js';

export type Format = 'openai' | 'anthropic' | 'gemini' | 'ollama';
export const FORMATS: readonly Format[] = ['openai', 'anthropic', 'gemini', 'ollama'];

export interface FormatGateway {
  /** One fake provider of each format; Ollama's takes no key, the others only PROVIDER_KEY. */
  fakes: Record<Format, FakeProvider>;
  /** A gateway whose providers are named after their formats (`openai/any-model`, …), one attempt each; clients send CLIENT_KEY. */
  kw: TestGateway;
  close(): Promise<void>;
}

/**
 * The conformance suites' setting: every provider format behind one gateway. `env` adds variables
 * (an admin key), `settings` fields to a provider's block (an Anthropic provider's allowedFeatures).
 */
export async function startFormatGateway(
  env: NodeJS.ProcessEnv = {},
  settings: Partial<Record<Format, Record<string, unknown>>> = {},
): Promise<FormatGateway> {
  const fakes = {} as Record<Format, FakeProvider>;
  for (const format of FORMATS) {
    fakes[format] = await startFakeProvider(format, format === 'ollama' ? {} : { keys: [PROVIDER_KEY] });
  }
  const kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: FORMATS.map((format) => ({
        id: format,
        type: format,
        baseUrl: fakes[format].baseUrl,
        ...(format !== 'ollama' && { keys: { env: 'PROVIDER_KEY' } }),
        retries: { maxAttempts: 1 },
        ...settings[format],
      })),
    },
    { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY, ...env },
  );
  return {
    fakes,
    kw,
    close: async () => {
      await kw.close();
      await Promise.all(FORMATS.map((format) => fakes[format].close()));
    },
  };
}
