import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawConnection } from '../support/raw-socket.js';
import { CLIENT_KEY, type Stack, startStack } from '../support/setup.js';

/**
 * Bytes Node cannot parse as HTTP that arrive on a connection whose response is under way: a
 * status line written then lands inside that response's body, which the client reads as part of
 * its answer. The connection is cut instead; an error answer is written only between responses.
 */
describe('malformed HTTP on a connection with a response under way', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.close());

  const streamed = (): string => {
    const body = JSON.stringify({ model: 'fast', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    return (
      'POST /v1/chat/completions HTTP/1.1\r\nHost: kw\r\nContent-Type: application/json\r\n' +
      `Authorization: Bearer ${CLIENT_KEY}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
    );
  };

  it('cuts a stream without writing an error answer into its body', async () => {
    stack.fake.script({ chunkDelayMs: 100 });
    const connection = await rawConnection(stack.kw.dataUrl, streamed());
    await connection.waitFor('data: ');
    connection.socket.write('GARBAGE\x01 /\r\n\r\n');
    const received = await connection.closed;
    expect(received).toMatch(/^HTTP\/1\.1 200 /);
    expect(received.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(received).not.toContain('malformed_request');
  });

  it('answers a request waiting for its provider with nothing, not with the error', async () => {
    stack.fake.script({ delayHeadersMs: 300 });
    const connection = await rawConnection(stack.kw.dataUrl, `${streamed()}GARBAGE\x01 /\r\n\r\n`);
    expect(await connection.closed).toBe('');
  });

  it('answers a request whose own chunked body is malformed', async () => {
    const connection = await rawConnection(
      stack.kw.dataUrl,
      'POST /v1/chat/completions HTTP/1.1\r\nHost: kw\r\nContent-Type: application/json\r\n' +
        `Authorization: Bearer ${CLIENT_KEY}\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{"\r\nzz\r\n`,
    );
    const received = await connection.closed;
    expect(received).toMatch(/^HTTP\/1\.1 400 /);
    expect(received).toContain('"code":"malformed_request"');
  });

  it('still answers malformed HTTP between responses', async () => {
    const connection = await rawConnection(stack.kw.dataUrl, 'GARBAGE / NOT-HTTP\r\n\r\n');
    const received = await connection.closed;
    expect(received).toMatch(/^HTTP\/1\.1 400 /);
    expect(received).toContain('"code":"malformed_request"');
  });
});
