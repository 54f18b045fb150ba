import { describe, expect, it } from 'vitest';
import { splitKeyList } from '../../src/keys/index.js';

describe('a comma-separated key list (keys.env, keys.values)', () => {
  it('takes printable keys, sealed ones included, once each', () => {
    expect(splitKeyList(' sk-one-12345678 , enc:kw1:abc:defghij,sk-one-12345678 ', 'P_KEY', true)).toEqual([
      'sk-one-12345678',
      'enc:kw1:abc:defghij',
    ]);
  });

  it('refuses a key with a character no header can carry, naming which key and where', () => {
    expect(() => splitKeyList('sk-one-12345678,sk-two\u2011pasted-1234', 'P_KEY')).toThrow(
      'key #2 in P_KEY has a character that is not printable ASCII',
    );
  });

  it('refuses a key longer than any provider issues, naming which key, where and the bound', () => {
    expect(() => splitKeyList(`sk-one-12345678,sk-${'x'.repeat(30_000)}`, 'aws secret prod/openai')).toThrow(
      'key #2 in aws secret prod/openai is 30003 characters, longer than the 4096 a provider key can be',
    );
    expect(splitKeyList(`sk-${'x'.repeat(4093)}`, 'P_KEY')).toHaveLength(1);
  });

  it('refuses a sealed value where nothing opens it (a secret manager, the keyring): it went to the provider as the key, unchecked for length', () => {
    for (const sealed of ['enc:kw1:abc:defghij', `enc:${'A'.repeat(6000)}`]) {
      expect(() => splitKeyList(`sk-one-12345678,${sealed}`, 'vault secret/openai')).toThrow(
        "key #2 in vault secret/openai is sealed (enc:…), which only keys.env and keys.values open; store the provider's key itself there",
      );
    }
  });
});
