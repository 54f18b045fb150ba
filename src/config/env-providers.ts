import type { ConfigInput } from './schema.js';

type ProviderInput = NonNullable<ConfigInput['providers']>[number];
type KeyedType = 'openai' | 'anthropic' | 'gemini';

/** Providers for the no-file mode, from the environment variables every SDK already uses. */
const known: ReadonlyArray<{
  type: KeyedType;
  keyVar: string;
  baseUrlVar: string;
  defaultBaseUrl: string;
  /** The API version path a base URL must end with; the SDKs' own variables usually omit it. */
  versionPath?: string;
}> = [
  {
    type: 'openai',
    keyVar: 'OPENAI_API_KEY',
    baseUrlVar: 'OPENAI_BASE_URL',
    defaultBaseUrl: 'https://api.openai.com/v1',
  },
  {
    type: 'anthropic',
    keyVar: 'ANTHROPIC_API_KEY',
    baseUrlVar: 'ANTHROPIC_BASE_URL',
    defaultBaseUrl: 'https://api.anthropic.com/v1',
    versionPath: '/v1',
  },
  {
    type: 'gemini',
    keyVar: 'GEMINI_API_KEY',
    baseUrlVar: 'GEMINI_BASE_URL',
    defaultBaseUrl: 'https://generativelanguage.googleapis.com/v1beta',
    versionPath: '/v1beta',
  },
];

function withVersion(url: string, versionPath: string | undefined): string {
  const base = url.replace(/\/+$/, '');
  return versionPath && !base.endsWith(versionPath) ? base + versionPath : base;
}

export function providersFromEnv(env: NodeJS.ProcessEnv): ProviderInput[] {
  const providers: ProviderInput[] = [];
  for (const { type, keyVar, baseUrlVar, defaultBaseUrl, versionPath } of known) {
    if (!env[keyVar]) continue;
    providers.push({
      id: type,
      type,
      baseUrl: withVersion(env[baseUrlVar] || defaultBaseUrl, versionPath),
      keys: { env: keyVar },
    });
  }
  if (env.OLLAMA_BASE_URL) {
    providers.push({ id: 'ollama', type: 'ollama', baseUrl: env.OLLAMA_BASE_URL.replace(/\/+$/, '') });
  }
  return providers;
}
