import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { stringify } from 'yaml';
import { modelsFromEnv, providersFromEnv } from '../config/env-providers.js';
import { type ConfigInput, configSchema } from '../config/index.js';
import { CliError } from './context.js';

const HEADER = `# Written by \`keyward keys import-env --write-config\` from the environment's providers.
# Their keys are in the store (keyward keys list); start with: keyward start --config THIS_FILE
`;

type ProviderInput = NonNullable<ConfigInput['providers']>[number];

/**
 * A base URL with a user name or password (`https://user:pw@proxy/v1`) would put that credential
 * in plain text in the written file: refused before anything is stored, naming the variable and
 * the URL without the credential, never the credential itself. Static `headers` are no way around
 * it (the schema refuses credential headers, and they would be in the file too): a proxy's
 * credential is the provider key, which goes to the store encrypted.
 */
function refuseCredentialsInBaseUrls(providers: readonly ProviderInput[], env: NodeJS.ProcessEnv): void {
  for (const provider of providers) {
    const variable = `${provider.id.toUpperCase()}_BASE_URL`;
    const value = env[variable];
    if (!value) continue;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      continue; // providersFromEnv names what is wrong with it
    }
    if (url.username === '' && url.password === '') continue;
    url.username = '';
    url.password = '';
    const key =
      provider.keys && 'env' in provider.keys
        ? `the provider key (${provider.keys.env}, which goes to the store encrypted)`
        : 'a provider key in a config file (keys: { store: true } and keyward keys add)';
    throw new CliError(
      `${variable} has a user name or password in it, which --write-config would copy into the file in plain text; ` +
        `remove them (${variable}=${url.href}) and give the proxy its credential as ${key}, then run this again`,
      2,
    );
  }
}

/**
 * The providers the written file will hold, every keyed one reading its keys from the store.
 * Called before the keys are imported too, so that a refusal leaves nothing half done.
 */
export function envConfigProviders(env: NodeJS.ProcessEnv): ProviderInput[] {
  const providers = providersFromEnv(env);
  refuseCredentialsInBaseUrls(providers, env);
  return providers.map((provider) =>
    provider.keys ? { ...provider, keys: { store: true as const } } : provider,
  );
}

/**
 * The configuration the no-file mode builds from the environment, written out with every keyed
 * provider reading its keys from the store: after `import-env`, the imported keys are the ones
 * used, and the plain variables can go. An existing file is never overwritten; the new one is
 * readable by its owner only (0600).
 */
export function writeEnvConfig(path: string, env: NodeJS.ProcessEnv): { file: string; providers: string[] } {
  const file = resolve(path);
  if (existsSync(file)) throw new CliError(`${file} already exists; choose another --write-config path`, 2);
  const providers = envConfigProviders(env);
  if (providers.length === 0) {
    throw new CliError(
      'no provider in the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, …)',
      2,
    );
  }
  const input = {
    auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
    providers,
    models: modelsFromEnv(providers),
  } satisfies ConfigInput;
  // The same schema the gateway loads it with: what is written here starts.
  configSchema.parse(input);
  // Owner-only, like the rest of what Keyward writes: the file names the providers and the proxies
  // in front of them. It is always a new file ('wx'), so no looser mode of an older one is kept.
  try {
    writeFileSync(file, HEADER + stringify(input), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    throw new CliError(`cannot write ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return { file, providers: providers.map((p) => p.id) };
}
