import { describe, expect, it } from 'vitest';
import { splitKeyList } from '../../src/keys/index.js';

describe('a comma-separated key list (keys.env, keys.values)', () => {
  it('takes printable keys, sealed ones included, once each', () => {
    expect(splitKeyList(' sk-one-12345678 , enc:kw1:abc:defghij,sk-one-12345678 ', 'P_KEY')).toEqual([
      'sk-one-12345678',
      'enc:kw1:abc:defghij',
    ]);
  });

  it('refuses a key with a character no header can carry, naming which key and where', () => {
    expect(() => splitKeyList('sk-one-12345678,sk-two\u2011pasted-1234', 'P_KEY')).toThrow(
      'key #2 in P_KEY has a character that is not printable ASCII',
    );
  });
});
