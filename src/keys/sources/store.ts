import { EnvelopeError, open, sealedBy } from '../envelope.js';
import { SecretString } from '../secret-string.js';
import type { SourceContext } from './context.js';
import { KeySourceError } from './errors.js';
import type { KeySource, SourcedKey } from './types.js';

/**
 * Keys kept encrypted in the embedded store, managed with `keyward keys` and `/admin/keys`. A
 * record that fails to open is skipped with a warning, so one damaged record cannot take the
 * provider's other keys down with it.
 */
export function createStoreSource(context: SourceContext): KeySource {
  return {
    kind: 'store',
    describe: `the store's keys for provider ${context.provider}`,
    async load(): Promise<SourcedKey[]> {
      const { store } = context;
      if (!store) throw new KeySourceError('keys.store needs the store, and none is open');
      const records = await store.providerKeys.list(context.provider);
      const keys: SourcedKey[] = [];
      for (const record of records) {
        if (record.status !== 'active') continue;
        try {
          const value = open(context.masters(sealedBy(record.ciphertext)), record.ciphertext, {
            provider: record.provider,
            keyId: record.id,
          });
          keys.push({
            id: record.id,
            secret: new SecretString(value),
            createdAt: record.createdAt,
            weight: record.weight,
          });
        } catch (error) {
          if (!(error instanceof EnvelopeError)) throw error;
          context.warn(`stored key ${record.id} (${record.fingerprint}) cannot be opened: ${error.message}`);
        }
      }
      return keys;
    },
  };
}
