import type { ConfigInput } from './schema.js';

type ProviderInput = NonNullable<ConfigInput['providers']>[number];

/**
 * Providers for the no-file mode, from the environment variables every SDK already uses.
 * Anthropic and Gemini are reached through their OpenAI-compatible endpoints until their native
 * adapters exist.
 */
const known: ReadonlyArray<{ id: string; keyVar: string; baseUrlVar: string; defaultBaseUrl: string }> = [
  {
    id: 'openai',
    keyVar: 'OPENAI_API_KEY',
    baseUrlVar: 'OPENAI_BASE_URL',
    defaultBaseUrl: 'https://api.openai.com/v1',
  },
  {
    id: 'anthropic',
    keyVar: 'ANTHROPIC_API_KEY',
    baseUrlVar: 'ANTHROPIC_BASE_URL',
    defaultBaseUrl: 'https://api.anthropic.com/v1',
  },
  {
    id: 'gemini',
    keyVar: 'GEMINI_API_KEY',
    baseUrlVar: 'GEMINI_BASE_URL',
    defaultBaseUrl: 'https://generativelanguage.googleapis.com/v1beta/openai',
  },
];

export function providersFromEnv(env: NodeJS.ProcessEnv): ProviderInput[] {
  const providers: ProviderInput[] = [];
  for (const { id, keyVar, baseUrlVar, defaultBaseUrl } of known) {
    if (!env[keyVar]) continue;
    providers.push({
      id,
      type: id === 'openai' ? 'openai' : 'openai-compatible',
      baseUrl: env[baseUrlVar] || defaultBaseUrl,
      keys: { env: keyVar },
    });
  }
  if (env.OLLAMA_BASE_URL) {
    // Ollama's OpenAI-compatible API lives under /v1 of the server URL users configure.
    const base = env.OLLAMA_BASE_URL.replace(/\/+$/, '');
    providers.push({ id: 'ollama', type: 'ollama', baseUrl: base.endsWith('/v1') ? base : `${base}/v1` });
  }
  return providers;
}
