import { randomBytes } from 'node:crypto';
import { type MasterKey, open, type RecordBinding, seal } from '../keys/index.js';
import type { Store } from '../store/index.js';

const META_NAME = 'token_pepper';
const BINDING: RecordBinding = { provider: '_keyward', keyId: META_NAME };

/**
 * The server pepper that keys every token hash: random, sealed under the master key in the store's
 * meta table. Random rather than derived from the master key so that `keyward master rotate`
 * re-seals it instead of invalidating every token.
 */
export async function loadTokenPepper(store: Store, masters: readonly MasterKey[]): Promise<Buffer> {
  const fresh = seal(masters[0]!, randomBytes(32).toString('base64'), BINDING);
  const stored = await store.meta.setIfAbsent(META_NAME, fresh);
  return Buffer.from(open(masters, stored, BINDING), 'base64');
}

/** Re-seals the pepper under `next` (master key rotation). */
export async function rewrapTokenPepper(
  store: Store,
  current: readonly MasterKey[],
  next: MasterKey,
): Promise<void> {
  const stored = await store.meta.get(META_NAME);
  if (stored === undefined) return;
  await store.meta.set(META_NAME, seal(next, open(current, stored, BINDING), BINDING));
}
