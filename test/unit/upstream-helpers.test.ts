import { describe, expect, it } from 'vitest';
import { eventData, SseSplitter } from '../../src/canonical/sse.js';
import type { GatewayError } from '../../src/errors/gateway-error.js';
import { assertSafeJson, parseJsonBody } from '../../src/http/json-body.js';
import { backoffDelay, isRetryableStatus, parseRetryAfter } from '../../src/upstream/retry-policy.js';

describe('retry policy', () => {
  it('retries exactly 429, 502, 503 and 504', () => {
    const retryable = [400, 401, 403, 404, 408, 429, 500, 501, 502, 503, 504].filter(isRetryableStatus);
    expect(retryable).toEqual([429, 502, 503, 504]);
  });

  it('draws full jitter below an exponential cap', () => {
    const options = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(0, options, () => 0.999)).toBe(99);
    expect(backoffDelay(2, options, () => 0.5)).toBe(200);
    expect(backoffDelay(10, options, () => 0.999)).toBe(999);
    expect(backoffDelay(3, options, () => 0)).toBe(0);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter('0.5')).toBe(500);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:03 GMT', now)).toBe(3000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});

describe('SSE splitting', () => {
  const enc = (text: string) => new TextEncoder().encode(text);

  it('yields whole events however the bytes are cut', () => {
    const stream = 'data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\n';
    for (let size = 1; size < stream.length; size++) {
      const splitter = new SseSplitter();
      const events: string[] = [];
      for (let i = 0; i < stream.length; i += size)
        events.push(...splitter.push(enc(stream.slice(i, i + size))));
      expect(events).toEqual(['data: {"a":1}\n\n', 'data: {"b":2}\n\n', 'data: [DONE]\n\n']);
      expect(splitter.rest()).toBe('');
    }
  });

  it('normalizes CRLF even when a CR and its LF arrive apart', () => {
    const splitter = new SseSplitter();
    const events = [...splitter.push(enc('data: x\r')), ...splitter.push(enc('\n\r\ndata: y\r\n\r\n'))];
    expect(events).toEqual(['data: x\n\n', 'data: y\n\n']);
  });

  it('reads bare CR, CRLF and LF line ends alike however the bytes are cut', () => {
    const want = ['data: a\n\n', 'event: e\ndata: b\n\n', 'data: [DONE]\n\n'];
    for (const eol of ['\r', '\r\n', '\n'])
      for (let size = 1; size <= 8; size++) {
        const stream = `data: a${eol}${eol}event: e${eol}data: b${eol}${eol}data: [DONE]${eol}${eol}`;
        const splitter = new SseSplitter();
        const events: string[] = [];
        for (let i = 0; i < stream.length; i += size)
          events.push(...splitter.push(enc(stream.slice(i, i + size))));
        expect(events).toEqual(want);
        expect(splitter.rest()).toBe('');
      }
  });

  it('completes an event ended by a bare CR without waiting for the next chunk', () => {
    const splitter = new SseSplitter();
    expect(splitter.push(enc('data: [DONE]\r\r'))).toEqual(['data: [DONE]\n\n']);
    expect(splitter.push(enc('\ndata: x\r\n\r\n'))).toEqual(['data: x\n\n']);
    expect(splitter.rest()).toBe('');
  });

  it('keeps a multi-byte character split across chunks intact', () => {
    const bytes = enc('data: é\n\n');
    const splitter = new SseSplitter();
    const events = [...splitter.push(bytes.slice(0, 7)), ...splitter.push(bytes.slice(7))];
    expect(events).toEqual(['data: é\n\n']);
  });

  it('joins multi-line data and ignores comments', () => {
    expect(eventData('data: a\ndata: b\n\n')).toBe('a\nb');
    expect(eventData(': keep-alive\n\n')).toBeUndefined();
    expect(eventData('event: x\ndata:{"k":1}\n\n')).toBe('{"k":1}');
    expect(eventData('data:\ndata: \ndata:  two spaces\n\n')).toBe('\n\n two spaces');
    expect(eventData('id: 1\ndata: last line without a newline')).toBe('last line without a newline');
    expect(eventData('event: ping\n\n')).toBeUndefined();
    expect(eventData('xdata: no\n data: no\n\n')).toBeUndefined();
  });
});

describe('JSON body guard', () => {
  const limits = { depth: 8, arrayItems: 5, values: 1_000_000 };

  const refusal = (text: string) => {
    try {
      parseJsonBody(text, limits);
    } catch (error) {
      return error as GatewayError;
    }
    throw new Error('the body was not refused');
  };

  it.each([['{"polluted":true}'], ['"a string"'], ['null']])(
    'refuses the key __proto__ at any depth, whatever its value (%s), naming its path',
    (value) => {
      const error = refusal(`{"a":[{"b":{"__proto__":${value}}}]}`);
      expect(error).toMatchObject({ status: 400, code: 'forbidden_key', param: 'a[0].b.__proto__' });
      expect(error.message).toBe(
        "Request body has the key '__proto__' at a[0].b.__proto__, which can alter objects' prototypes; rename or remove it",
      );
    },
  );

  it('refuses a constructor object with a prototype key, naming its path', () => {
    const error = refusal('{"tools":[{"input_schema":{"properties":{"constructor":{"prototype":{}}}}}]}');
    expect(error).toMatchObject({
      status: 400,
      code: 'forbidden_key',
      param: 'tools[0].input_schema.properties.constructor',
    });
    expect(error.message).toContain(
      "a 'constructor' object with a 'prototype' key at tools[0].input_schema.properties.constructor",
    );
    // At the top, the path is the key alone.
    expect(refusal('{"constructor":{"prototype":{}}}').param).toBe('constructor');
    expect(refusal('{"__proto__":{}}').param).toBe('__proto__');
  });

  it('passes constructor and prototype as names of anything else', () => {
    const text = JSON.stringify({
      tools: [
        { input_schema: { properties: { constructor: { type: 'string' }, prototype: { type: 'object' } } } },
      ],
      metadata: { prototype: 'v2', constructor: 'x' },
      constructor: [{ prototype: 1 }],
      prototype: { constructor: 'y', prototype: { a: 1 } },
    });
    const parsed = parseJsonBody(text, limits);
    expect(parsed).toEqual(JSON.parse(text));
    expect(JSON.stringify(parsed)).toBe(text);
  });

  it('refuses deep nesting without recursion', () => {
    expect(() => assertSafeJson(JSON.parse(`${'['.repeat(9)}${']'.repeat(9)}`), limits)).toThrow(
      /nested deeper than 8/,
    );
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(() => parseJsonBody(deep, { depth: 64, arrayItems: 5, values: 1_000_000 })).toThrow(
      'Request body is nested deeper than 64 levels; nest less, or the operator raises limits.jsonDepth',
    );
  });

  it('counts the values of a long body before parsing it, and nothing inside its strings', () => {
    const few = { depth: 8, arrayItems: 100_000, values: 1_000 };
    const members = (n: number) =>
      JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i])));
    expect(() => parseJsonBody(members(1_001), few)).toThrow(/more than 1000 values/);
    expect(Object.keys(parseJsonBody(members(999), few) as object)).toHaveLength(999);
    // Commas, brackets and escaped quotes inside strings are text, however many.
    const text = JSON.stringify({ a: `${'x,[{'.repeat(5_000)}\\"${',\\'.repeat(2_000)}` });
    expect(parseJsonBody(text, few)).toEqual(JSON.parse(text));
    // An unterminated string is malformed JSON, not a count.
    expect(() => parseJsonBody(`{"a":"${','.repeat(5_000)}`, few)).toThrow('Request body is not valid JSON');
  });

  it('refuses long arrays and malformed JSON', () => {
    expect(() => parseJsonBody('[1,2,3,4,5,6]', limits)).toThrow(
      'Request body has an array longer than 5 items; send fewer, or the operator raises limits.arrayItems',
    );
    expect(refusal('{"a":[{"stop":[1,2,3,4,5,6]}]}')).toMatchObject({
      code: 'json_array_too_long',
      param: 'a[0].stop',
      message: expect.stringContaining('longer than 5 items at a[0].stop;'),
    });
    expect(() => parseJsonBody('{"a":', limits)).toThrow('Request body is not valid JSON');
    expect(parseJsonBody('{"a":[1,2]}', limits)).toEqual({ a: [1, 2] });
  });
});
