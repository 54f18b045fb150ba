import type { SourceContext } from './context.js';
import { openInline } from './inline.js';
import type { KeySource, SourcedKey } from './types.js';

/** `enc:` values written in the config file (the schema admits no plaintext there). */
export function createValuesSource(values: readonly string[], context: SourceContext): KeySource {
  return {
    kind: 'values',
    describe: `keys.values of provider ${context.provider}`,
    async load(): Promise<SourcedKey[]> {
      return values.map((value, i) => ({
        id: `values#${i + 1}`,
        secret: openInline(value, context.provider, context.masters(), `keys.values[${i}]`),
      }));
    },
  };
}
