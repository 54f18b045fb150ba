import { ConfigError } from './errors.js';
import type { ConfigInput } from './schema.js';

type ProviderInput = NonNullable<ConfigInput['providers']>[number];
type ModelInput = NonNullable<ConfigInput['models']>[number];
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

/**
 * A base URL from the environment is checked here, where the variable is known: the schema would
 * only say `providers[0].baseUrl`, a name the user never wrote.
 */
function checkBaseUrl(
  variable: string,
  value: string | undefined,
  example: string,
  problems: string[],
): void {
  if (!value) return;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url?.protocol === 'http:' || url?.protocol === 'https:') return;
  problems.push(`${variable}: expected an http(s) URL such as ${example}`);
}

export function providersFromEnv(env: NodeJS.ProcessEnv): ProviderInput[] {
  const problems: string[] = [];
  for (const { keyVar, baseUrlVar, defaultBaseUrl } of known) {
    if (env[keyVar]) checkBaseUrl(baseUrlVar, env[baseUrlVar], defaultBaseUrl, problems);
  }
  checkBaseUrl('OLLAMA_BASE_URL', env.OLLAMA_BASE_URL, 'http://127.0.0.1:11434', problems);
  if (problems.length > 0) throw new ConfigError('environment', problems);
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

/** The model families whose bare names (as Claude Code or a Gemini SDK sends them) find their provider. */
const FAMILIES: ReadonlyArray<{ provider: string; name: string }> = [
  { provider: 'anthropic', name: 'claude-*' },
  { provider: 'gemini', name: 'gemini-*' },
];

/**
 * Wildcard aliases for the no-file mode: `claude-sonnet-4-5` reaches the Anthropic provider
 * under its own name, so a client pointed at Keyward needs no other change.
 */
export function modelsFromEnv(providers: readonly ProviderInput[]): ModelInput[] {
  const ids = new Set(providers.map((provider) => provider.id));
  return FAMILIES.filter(({ provider }) => ids.has(provider)).map(({ provider, name }) => ({
    name,
    provider,
    model: '*',
  }));
}
