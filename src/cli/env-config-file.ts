import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { stringify } from 'yaml';
import { modelsFromEnv, providersFromEnv } from '../config/env-providers.js';
import { type ConfigInput, configSchema } from '../config/index.js';
import { CliError } from './context.js';

const HEADER = `# Written by \`keyward keys import-env --write-config\` from the environment's providers.
# Their keys are in the store (keyward keys list); start with: keyward start --config THIS_FILE
`;

/**
 * The configuration the no-file mode builds from the environment, written out with every keyed
 * provider reading its keys from the store: after `import-env`, the imported keys are the ones
 * used, and the plain variables can go. An existing file is never overwritten.
 */
export function writeEnvConfig(path: string, env: NodeJS.ProcessEnv): { file: string; providers: string[] } {
  const file = resolve(path);
  if (existsSync(file)) throw new CliError(`${file} already exists; choose another --write-config path`, 2);
  const providers = providersFromEnv(env).map((provider) =>
    provider.keys ? { ...provider, keys: { store: true as const } } : provider,
  );
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
  try {
    writeFileSync(file, HEADER + stringify(input), { flag: 'wx', mode: 0o644 });
  } catch (error) {
    throw new CliError(`cannot write ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return { file, providers: providers.map((p) => p.id) };
}
