import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Redactor } from '../../src/observability/redact.js';

describe('Redactor', () => {
  const secret = 'prov-9f8e7d6c5b4a3210';
  const redactor = new Redactor([secret]);

  it('masks a registered secret and its base64 forms', () => {
    const b64 = Buffer.from(secret).toString('base64');
    const b64url = Buffer.from(secret).toString('base64url');
    const out = redactor.redact(`a ${secret} b ${b64} c ${b64url}`);
    expect(out).not.toContain(secret);
    expect(out).not.toContain(b64);
    expect(out).not.toContain(b64url);
    expect(out).toBe('a [REDACTED] b [REDACTED] c [REDACTED]');
  });

  it('masks a secret base64-encoded inside a longer value, at each alignment', () => {
    for (const around of ['Bearer ', 'user:', 'ab', 'x']) {
      for (const encoding of ['base64', 'base64url'] as const) {
        const encoded = Buffer.from(`${around}${secret}!`).toString(encoding);
        const out = redactor.redact(`header ${encoded} end`);
        expect(out).toContain('[REDACTED]');
        // What is left of the encoding cannot be decoded back to the secret.
        expect(Buffer.from(out, encoding).toString()).not.toContain(secret.slice(4, -4));
      }
    }
  });

  it('masks credential shapes it was never told about', () => {
    const cases = [
      'Authorization: Bearer abcdef123456',
      'key sk-proj-abcdefghijklmnop in text',
      'token kw_abc123_0123456789abcdef',
      'google AIzaSyA1234567890abcdefghijklmnop',
      '{"api_key":"zzzzzzzz"}',
      'x-api-key: yyyyyyyyyy',
      'GET /v1/models?key=qqqqqqqqqq&x=1',
      'Incorrect API key provided: abcdef123456***wxyz.',
    ];
    for (const text of cases) {
      const out = redactor.redact(text);
      expect(out, text).toContain('[REDACTED]');
      for (const fragment of [
        'abcdef123456',
        'abcdefghijklmnop',
        '0123456789abcdef',
        'zzzzzzzz',
        'yyyyyyyyyy',
        'qqqqqqqqqq',
      ]) {
        expect(out).not.toContain(fragment);
      }
    }
  });

  it('masks a credential after its scheme in a field named like one, and a secret escaped in JSON', () => {
    for (const line of [
      '{"authorization":"Bearer unknownclienttoken123456"}',
      '{"authorization":"Basic dXNlcjpwYXNzd29yZA=="}',
    ]) {
      const out = redactor.redact(line);
      expect(out).not.toContain('unknownclienttoken123456');
      expect(out).not.toContain('dXNlcjpwYXNzd29yZA');
    }
    const quoted = 'pass"with\\slash-0123';
    const line = JSON.stringify({ msg: `value ${quoted}` });
    expect(new Redactor([quoted]).redact(line)).toBe('{"msg":"value [REDACTED]"}');
  });

  it('leaves ordinary text alone', () => {
    const line = '{"level":"info","msg":"request","status":200,"model":"gpt-4o-mini"}';
    expect(redactor.redact(line)).toBe(line);
  });

  it('learns secrets added later', () => {
    const r = new Redactor();
    r.addSecret('late-secret-value-1');
    expect(r.redact('x late-secret-value-1 y')).toBe('x [REDACTED] y');
  });

  it('masks secrets of any length and number without throwing', () => {
    // One regular expression of every form failed at first use past ~24,575 characters of a single
    // secret ("Regular expression too large"), with the whole pattern as the error's message.
    const random = (length: number) => randomBytes(length).toString('base64url').slice(0, length);
    const long = [30_000, 70_000].map((length) => `sk-${random(length)}`);
    const many = Array.from(
      { length: 600 },
      (_, i) => `sk-ant-api03-${String(i).padStart(4, '0')}${random(95)}`,
    );
    const r = new Redactor([...long, ...many]);
    for (const secret of [...long, many[0]!, many[599]!]) {
      const b64 = Buffer.from(secret).toString('base64');
      const out = r.redact(`{"msg":"a ${secret} b ${b64} c"}`);
      expect(out).toBe('{"msg":"a [REDACTED] b [REDACTED] c"}');
    }
    // A shorter secret inside a longer one is masked with it, whichever way it is stored.
    const inner = many[1]!;
    r.addSecret(`${inner}${random(40_000)}`);
    expect(r.redact(`x ${inner} y`)).toBe('x [REDACTED] y');
    expect(r.redact('no secret here')).toBe('no secret here');
  });
});
