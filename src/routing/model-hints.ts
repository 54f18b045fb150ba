import type { ProviderType } from '../config/index.js';

/** A provider as a hint names it. */
export interface HintProvider {
  id: string;
  type: ProviderType;
}

/** Model families a bare name reveals, the provider types that serve them, and how no-file mode adds one. */
const FAMILIES: ReadonlyArray<{ id: string; pattern: RegExp; types: readonly ProviderType[]; env: string }> =
  [
    {
      id: 'openai',
      pattern: /^(gpt-|o\d|chatgpt-|text-embedding-3|text-embedding-ada|dall-e|whisper|tts-|omni-)/,
      types: ['openai', 'azure-openai'],
      env: 'OPENAI_API_KEY',
    },
    { id: 'anthropic', pattern: /^claude-/, types: ['anthropic'], env: 'ANTHROPIC_API_KEY' },
    {
      id: 'gemini',
      pattern: /^(gemini-|gemma-|text-embedding-004|embedding-)/,
      types: ['gemini'],
      env: 'GEMINI_API_KEY',
    },
  ];

const MAX_LISTED = 10;
const listed = (names: readonly string[]) =>
  names.length <= MAX_LISTED
    ? names.join(', ')
    : `${names.slice(0, MAX_LISTED).join(', ')} and ${names.length - MAX_LISTED} more`;

const notConfigured = (family: (typeof FAMILIES)[number]) =>
  `provider ${family.id} is not configured (set ${family.env}, or add a provider of type ${family.types[0]} to the config file)`;

function providerHint(name: string, providers: readonly HintProvider[]): string | undefined {
  const slash = name.indexOf('/');
  const ids = providers.map((p) => p.id);
  if (slash > 0) {
    const id = name.slice(0, slash);
    const family = FAMILIES.find((f) => f.id === id);
    const known = ids.length > 0 ? `; configured providers: ${listed(ids)}` : '';
    return `${family ? notConfigured(family) : `provider '${id}' is not configured`}${known}`;
  }
  const family = FAMILIES.find((f) => f.pattern.test(name));
  if (family) {
    const serving = providers.filter((p) => family.types.includes(p.type));
    if (serving.length === 0) return notConfigured(family);
    return `try ${serving
      .slice(0, 3)
      .map((p) => `'${p.id}/${name}'`)
      .join(' or ')}`;
  }
  return ids.length > 0
    ? `name it as provider/model, such as '${ids[0]}/${name}'`
    : 'no provider is configured';
}

/**
 * What a client that named an unknown model should try instead: the `provider/model` form of the
 * name, the aliases it may use, or the provider that is missing from the configuration. Only
 * names the client may use appear; the name it sent is echoed cut short.
 */
export function unknownModelMessage(
  name: string,
  aliases: readonly string[],
  providers: readonly HintProvider[],
): string {
  const shown = name.length > 128 ? `${name.slice(0, 128)}…` : name;
  const hints = [providerHint(name, providers)];
  if (aliases.length > 0) hints.push(`aliases: ${listed(aliases)}`);
  hints.push('GET /v1/models lists the models this credential may use');
  return `The model '${shown}' does not exist or is not available: ${hints.filter(Boolean).join('; ')}`;
}
