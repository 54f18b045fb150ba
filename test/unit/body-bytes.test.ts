import { describe, expect, it } from 'vitest';
import { bodyText, unreadableBody } from '../../src/http/body-bytes.js';

describe('request body bytes', () => {
  it('refuses every Content-Encoding but identity, naming the header and the fix', () => {
    for (const coding of ['gzip', 'deflate', 'br', 'zstd', 'GZIP', 'identity, gzip']) {
      const refused = unreadableBody({ 'content-encoding': coding });
      expect(refused).toMatchObject({ status: 415, code: 'unsupported_content_encoding' });
      expect(refused?.message).toContain('send the body uncompressed, without a Content-Encoding header');
    }
    expect(unreadableBody({ 'content-encoding': 'gzip' })?.message).toMatch(/^Content-Encoding gzip is not/);
    for (const coding of ['identity', 'Identity', ' identity , identity', ''])
      expect(unreadableBody({ 'content-encoding': coding })).toBeUndefined();
  });

  it('refuses a declared charset other than UTF-8, however it is written', () => {
    for (const type of [
      'application/json; charset=iso-8859-1',
      'application/json;charset="latin1"',
      'application/json; CHARSET=UTF-16',
      'application/json; charset=utf-8; charset=windows-1252',
      'application/json; charset=',
    ]) {
      const refused = unreadableBody({ 'content-type': type });
      expect(refused, type).toMatchObject({ status: 415, code: 'unsupported_charset' });
      expect(refused?.message).toContain('send the body encoded as UTF-8, with charset=utf-8 or no charset');
    }
    expect(unreadableBody({ 'content-type': 'application/json; charset=iso-8859-1' })?.message).toMatch(
      /^Content-Type declares the charset iso-8859-1,/,
    );
    for (const type of [
      'application/json',
      'application/json; charset=utf-8',
      'Application/JSON; Charset=UTF-8',
      'application/json;charset="UTF-8"',
      'application/json; charset=utf8',
      // Every US-ASCII text is UTF-8 (the bytes are checked as UTF-8 all the same).
      'application/json; charset=US-ASCII',
      // A charset inside another parameter's quoted value is that value's text.
      'application/json; profile="x;charset=latin1"; charset=utf-8',
    ])
      expect(unreadableBody({ 'content-type': type }), type).toBeUndefined();
  });

  it('decodes UTF-8 once, without a leading byte order mark, and refuses anything else', () => {
    const json = '{"content":"café ☕"}';
    expect(bodyText(Buffer.from(json))).toBe(json);
    expect(bodyText(Buffer.from(`\ufeff${json}`))).toBe(json);
    // Only the first mark is the encoding's: a second one is text (which JSON.parse refuses).
    expect(bodyText(Buffer.from(`\ufeff\ufeff${json}`))).toBe(`\ufeff${json}`);
    for (const bytes of [
      Buffer.concat([Buffer.from('{"content":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
      Buffer.from(json, 'latin1'),
      Buffer.from(`\ufeff${json}`, 'utf16le'),
    ]) {
      expect(() => bodyText(bytes)).toThrow(
        'Request body is not valid UTF-8; send the JSON encoded as UTF-8',
      );
    }
  });
});
