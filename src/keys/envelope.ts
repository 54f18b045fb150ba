import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { MasterKey } from './master-key.js';
import { pooledRandomBytes } from './random-pool.js';

/**
 * Envelope encryption of records at rest: AES-256-GCM under the master key, a fresh random 96-bit
 * nonce per encryption, and associated data naming the record, so that a ciphertext copied into
 * another record (another provider or key id) fails to open.
 *
 * Text format, version 1: `kw1:<master key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`. The key id
 * lets `keyward master rotate` and readers tell which master key sealed a record.
 */
const VERSION = 'kw1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** A ciphertext that cannot be opened: wrong key, tampered, truncated or not ours. Never holds data. */
export class EnvelopeError extends Error {
  override name = 'EnvelopeError';
}

/** The record a ciphertext belongs to; becomes the GCM associated data. */
export interface RecordBinding {
  provider: string;
  keyId: string;
}

function associatedData({ provider, keyId }: RecordBinding): Buffer {
  // Lengths first, so that no two different bindings serialise to the same bytes.
  return Buffer.from(
    `keyward/provider-key/${VERSION}:${provider.length}:${provider}:${keyId.length}:${keyId}`,
  );
}

/** What sealing needs of a master key: its id and its bytes (a writer thread gets no more). */
export type SealingKey = Pick<MasterKey, 'id'> & { key: Uint8Array };

export function seal(master: SealingKey, plaintext: string, binding: RecordBinding): string {
  const nonce = pooledRandomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', master.key, nonce);
  cipher.setAAD(associatedData(binding));
  const body = Buffer.concat([nonce, cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${VERSION}:${master.id}:${body.toString('base64url')}`;
}

/** The id of the master key that sealed `text`, or undefined when `text` is not an envelope. */
export function sealedBy(text: string): string | undefined {
  // Read off the front: a record's text runs to kilobytes, and `open` checks the rest.
  if (!text.startsWith(`${VERSION}:`)) return undefined;
  const end = text.indexOf(':', VERSION.length + 1);
  return end < 0 ? undefined : text.slice(VERSION.length + 1, end);
}

/** Opens an envelope with whichever of `keys` sealed it. */
export function open(keys: readonly MasterKey[], text: string, binding: RecordBinding): string {
  if (typeof text !== 'string' || text.length === 0) throw new EnvelopeError('empty ciphertext');
  const parts = text.split(':');
  if (parts.length !== 3 || !parts[0]) throw new EnvelopeError('not a Keyward ciphertext (expected kw1:…)');
  const [version, keyId, encoded] = parts as [string, string, string];
  // The version is not echoed: a plaintext key stored by mistake would show in the message.
  if (version !== VERSION) throw new EnvelopeError(`unsupported ciphertext version (expected ${VERSION})`);
  const master = keys.find((candidate) => candidate.id === keyId);
  if (!master) throw new EnvelopeError('sealed by a master key that is not loaded');
  if (!/^[A-Za-z0-9_-]+$/.test(encoded)) throw new EnvelopeError('ciphertext is not base64url');
  const body = Buffer.from(encoded, 'base64url');
  if (body.length < NONCE_BYTES + TAG_BYTES) throw new EnvelopeError('ciphertext is truncated');
  try {
    const decipher = createDecipheriv('aes-256-gcm', master.key, body.subarray(0, NONCE_BYTES));
    decipher.setAAD(associatedData(binding));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    return (
      decipher.update(body.subarray(NONCE_BYTES, body.length - TAG_BYTES), undefined, 'utf8') +
      decipher.final('utf8')
    );
  } catch {
    throw new EnvelopeError('ciphertext failed authentication (wrong master key, wrong record or tampered)');
  }
}
