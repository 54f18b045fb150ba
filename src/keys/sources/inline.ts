import { EnvelopeError, open, type RecordBinding } from '../envelope.js';
import type { MasterKey } from '../master-key.js';
import { SecretString } from '../secret-string.js';
import { KeySourceError } from './errors.js';
import { checkKeyLength } from './key-length.js';

export const ENC_PREFIX = 'enc:';

/** The record an `enc:` value in the environment or the config file is bound to. */
export const inlineBinding = (provider: string): RecordBinding => ({ provider, keyId: 'inline' });

/** Opens an `enc:kw1:…` value sealed by `keyward keys encrypt --provider <provider>`. */
export function openInline(
  value: string,
  provider: string,
  masters: readonly MasterKey[],
  where: string,
): SecretString {
  if (masters.length === 0) {
    throw new KeySourceError(`${where} holds an enc: value but no master key is loaded`);
  }
  let opened: string;
  try {
    opened = open(masters, value.slice(ENC_PREFIX.length), inlineBinding(provider));
  } catch (error) {
    if (error instanceof EnvelopeError) {
      throw new KeySourceError(
        `${where}: ${error.message}; values are bound to their provider (keyward keys encrypt --provider ${provider})`,
      );
    }
    throw error;
  }
  checkKeyLength(opened, where);
  return new SecretString(opened);
}
