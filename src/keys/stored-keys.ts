import { randomBytes } from 'node:crypto';
import type { ProviderKeyRecord, Store } from '../store/index.js';
import { open, seal, sealedBy } from './envelope.js';
import type { MasterKey } from './master-key.js';
import { fingerprintOf } from './secret-string.js';
import { ENC_PREFIX } from './sources/inline.js';
import { MAX_KEY_LENGTH } from './sources/key-length.js';

/** What listings show of a stored key: never its value or ciphertext. */
export interface StoredKeyView {
  id: string;
  provider: string;
  fingerprint: string;
  status: ProviderKeyRecord['status'];
  weight: number;
  createdAt: string;
  updatedAt: string;
  ageDays: number;
}

const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;

/** A value that cannot be a provider key; the message never echoes it. */
export class KeyValueError extends Error {
  override name = 'KeyValueError';
}

/**
 * A value the provider already has stored: a second copy would only double the key's share of the
 * rotation, and a rotation to it would disable the key it adds. The message names the stored key
 * by id, never by value.
 */
export class KeyAlreadyStored extends Error {
  override name = 'KeyAlreadyStored';
  constructor(
    readonly provider: string,
    readonly stored: StoredKeyView,
  ) {
    super(KeyAlreadyStored.message(provider, stored, `enable ${stored.id}`));
  }

  /** The message, naming how the caller's interface enables a disabled copy (`keyward keys enable …`). */
  static message(provider: string, stored: StoredKeyView, enable: string): string {
    const reuse = stored.status === 'disabled' ? `; ${enable} to put it back in use` : '';
    return `${provider} already has this key stored as ${stored.id} (${stored.status}); nothing was added${reuse}`;
  }
}

export function validateKeyValue(value: string): string {
  const trimmed = value.trim();
  if (trimmed.length < 8) throw new KeyValueError('a provider key must be at least 8 characters');
  if (trimmed.length > MAX_KEY_LENGTH)
    throw new KeyValueError(`a provider key must be at most ${MAX_KEY_LENGTH} characters`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\s\x00-\x1f\x7f,]/.test(trimmed)) {
    throw new KeyValueError('a provider key must not contain whitespace, commas or control characters');
  }
  // A key travels in an HTTP header, which carries no other characters: one pasted with a typographic
  // hyphen or quote failed every request sent with it as "provider unreachable".
  if (!PRINTABLE_ASCII.test(trimmed)) {
    throw new KeyValueError(
      'a provider key must be printable ASCII; one with another character (a typographic hyphen or quote from a copy) is not the key: copy it again from the provider',
    );
  }
  if (trimmed.startsWith(ENC_PREFIX)) {
    throw new KeyValueError(
      `a sealed value (${ENC_PREFIX}kw1:…) goes in keys.env or keys.values of the configuration; this takes the plain key`,
    );
  }
  return trimmed;
}

export function toView(record: ProviderKeyRecord, now: number = Date.now()): StoredKeyView {
  return {
    id: record.id,
    provider: record.provider,
    fingerprint: record.fingerprint,
    status: record.status,
    weight: record.weight,
    createdAt: new Date(record.createdAt).toISOString(),
    updatedAt: new Date(record.updatedAt).toISOString(),
    ageDays: Math.floor((now - record.createdAt) / 86_400_000),
  };
}

/** 80 random bits in base32: unique without coordination, short enough to type. */
const newKeyId = (): string =>
  `pk_${randomBytes(10).toString('base64url').replace(/[-_]/g, 'x').toLowerCase()}`;

/**
 * Management of the provider keys kept in the store, shared by the CLI and the admin API. Values
 * are sealed with the current master key and bound to their provider and id.
 */
export class StoredKeys {
  constructor(
    private readonly store: Store,
    private readonly master: () => MasterKey,
  ) {}

  async list(provider?: string): Promise<StoredKeyView[]> {
    const now = Date.now();
    return (await this.store.providerKeys.list(provider)).map((record) => toView(record, now));
  }

  /** Stores a new key; throws KeyAlreadyStored when the provider has this value already. */
  async add(provider: string, value: string, weight = 1): Promise<StoredKeyView> {
    const plaintext = validateKeyValue(value);
    const fingerprint = fingerprintOf(plaintext);
    const now = Date.now();
    const id = newKeyId();
    const record: ProviderKeyRecord = {
      id,
      provider,
      ciphertext: seal(this.master(), plaintext, { provider, keyId: id }),
      fingerprint,
      status: 'active',
      weight,
      createdAt: now,
      updatedAt: now,
    };
    const stored = await this.store.providerKeys.insert(record);
    if (stored) throw new KeyAlreadyStored(provider, toView(stored, now));
    return toView(record, now);
  }

  /**
   * Adds the new key and disables the provider's other active keys: new requests use the new key
   * at once, requests in flight finish on the old one, and the old records stay until removed.
   */
  async rotate(provider: string, value: string): Promise<{ added: StoredKeyView; disabled: string[] }> {
    const before = await this.store.providerKeys.list(provider);
    const added = await this.add(provider, value);
    const disabled: string[] = [];
    const now = Date.now();
    for (const record of before) {
      if (
        record.status === 'active' &&
        (await this.store.providerKeys.setStatus(record.id, 'disabled', now))
      ) {
        disabled.push(record.id);
      }
    }
    return { added, disabled };
  }

  async setStatus(id: string, status: ProviderKeyRecord['status']): Promise<StoredKeyView | undefined> {
    if (!(await this.store.providerKeys.setStatus(id, status, Date.now()))) return undefined;
    const record = await this.store.providerKeys.get(id);
    return record && toView(record);
  }

  async remove(id: string): Promise<StoredKeyView | undefined> {
    const record = await this.store.providerKeys.get(id);
    if (!record || !(await this.store.providerKeys.remove(id))) return undefined;
    return toView(record);
  }

  /**
   * Re-seals every record under `next`, opening each with whichever of `current` sealed it; all
   * records change in one transaction or none does.
   */
  async rewrap(current: readonly MasterKey[], next: MasterKey): Promise<number> {
    const records = await this.store.providerKeys.list();
    const ciphertexts = new Map<string, string>();
    for (const record of records) {
      if (sealedBy(record.ciphertext) === next.id) continue;
      const binding = { provider: record.provider, keyId: record.id };
      ciphertexts.set(record.id, seal(next, open(current, record.ciphertext, binding), binding));
    }
    await this.store.providerKeys.rewrap(ciphertexts, Date.now());
    return ciphertexts.size;
  }
}
