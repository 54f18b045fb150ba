import { randomBytes } from 'node:crypto';
import type { Store } from '../store/index.js';
import { open, type RecordBinding, seal, sealedBy } from './envelope.js';
import type { MasterKey } from './master-key.js';

/**
 * The gateway's own secrets: the token pepper and the audit MAC key. Each is 32 random bytes,
 * sealed under the master key in the store's meta table, created on first use. Random rather
 * than derived from the master key, so `keyward master rotate` re-seals them instead of
 * invalidating every token and every audit record.
 */
export const SEALED_SECRETS = ['token_pepper', 'audit_key'] as const;
export type SealedSecretName = (typeof SEALED_SECRETS)[number];

const binding = (name: SealedSecretName): RecordBinding => ({ provider: '_keyward', keyId: name });

export async function loadSealedSecret(
  store: Store,
  masters: readonly MasterKey[],
  name: SealedSecretName,
): Promise<Buffer> {
  const fresh = seal(masters[0]!, randomBytes(32).toString('base64'), binding(name));
  const stored = await store.meta.setIfAbsent(name, fresh);
  return Buffer.from(open(masters, stored, binding(name)), 'base64');
}

/**
 * Re-seals under `next` every sealed secret it did not seal already (master key rotation, which
 * may sweep more than once); returns how many it re-sealed.
 */
export async function rewrapSealedSecrets(
  store: Store,
  current: readonly MasterKey[],
  next: MasterKey,
): Promise<number> {
  let count = 0;
  for (const name of SEALED_SECRETS) {
    const stored = await store.meta.get(name);
    if (stored === undefined || sealedBy(stored) === next.id) continue;
    await store.meta.set(name, seal(next, open(current, stored, binding(name)), binding(name)));
    count++;
  }
  return count;
}
