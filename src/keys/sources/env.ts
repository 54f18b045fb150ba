import { SecretString } from '../secret-string.js';
import type { SourceContext } from './context.js';
import { KeySourceError } from './errors.js';
import { ENC_PREFIX, openInline } from './inline.js';
import { splitKeyList } from './split.js';
import type { KeySource, SourcedKey } from './types.js';

/**
 * Keys from an environment variable, comma-separated, each plain or `enc:` sealed with the master
 * key. Plain values work but draw a warning: they sit unencrypted wherever the environment is
 * kept.
 */
export function createEnvSource(variable: string, context: SourceContext): KeySource {
  let warned = false;
  return {
    kind: 'env',
    describe: `environment variable ${variable}`,
    async load(): Promise<SourcedKey[]> {
      const raw = context.env[variable]?.trim();
      if (!raw) throw new KeySourceError(`environment variable ${variable} is empty or not set`);
      const values = splitKeyList(raw, variable, true);
      const plain = values.filter((value) => !value.startsWith(ENC_PREFIX)).length;
      if (plain > 0 && !warned) {
        warned = true;
        context.warn(
          `${variable} holds ${plain} plain provider key(s); move them into the encrypted store with 'keyward keys import-env' or seal them with 'keyward keys encrypt --provider ${context.provider}'`,
        );
      }
      return values.map((value, i) => ({
        id: `env:${variable}#${i + 1}`,
        secret: value.startsWith(ENC_PREFIX)
          ? openInline(value, context.provider, context.masters(), `${variable} key #${i + 1}`)
          : new SecretString(value),
      }));
    },
  };
}

/** Plain client-side secrets (client keys, the admin key): no `enc:`, no warning. */
export function keysFromEnv(variable: string, env: NodeJS.ProcessEnv): SecretString[] {
  const raw = env[variable]?.trim();
  if (!raw) throw new KeySourceError(`environment variable ${variable} is empty or not set`);
  return splitKeyList(raw, variable).map((value) => new SecretString(value));
}
