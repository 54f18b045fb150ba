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

  it('answers in the envelope of the surface the request was for, with a request id', async () => {
    const folded = (path: string) =>
      `POST ${path} HTTP/1.1\r\nHost: kw\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\n{}`;
    const anthropic = await (await rawConnection(stack.kw.dataUrl, folded('/v1/messages'))).closed;
    expect(anthropic).toMatch(/^HTTP\/1\.1 400 /);
    expect(anthropic).toMatch(/\r\nx-request-id: [\w-]{8,}\r\n/i);
    const anthropicBody = JSON.parse(anthropic.slice(anthropic.indexOf('\r\n\r\n') + 4));
    expect(anthropicBody).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    const gemini = await (await rawConnection(stack.kw.dataUrl, folded('/v1beta/models/m:generateContent')))
      .closed;
    const geminiBody = JSON.parse(gemini.slice(gemini.indexOf('\r\n\r\n') + 4));
    expect(geminiBody).toMatchObject({ error: { code: 400, status: 'INVALID_ARGUMENT' } });
    // A chunked body malformed mid-way, on a request Node had already parsed the head of.
    const chunked = await (
      await rawConnection(
        stack.kw.dataUrl,
        'POST /v1/messages HTTP/1.1\r\nHost: kw\r\nContent-Type: application/json\r\n' +
          `x-api-key: ${CLIENT_KEY}\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{"\r\nzz\r\n`,
      )
    ).closed;
    expect(JSON.parse(chunked.slice(chunked.indexOf('\r\n\r\n') + 4))).toMatchObject({ type: 'error' });
    // The id the gateway gave that request, which its log line carries; under the name Anthropic's
    // SDKs read it by too.
    const id = /\r\nx-request-id: ([\w-]+)\r\n/i.exec(chunked)?.[1];
    expect(chunked).toContain(`\r\nrequest-id: ${id}\r\n`);
    await expect.poll(() => stack.kw.logs.some((line) => line.includes(`"reqId":"${id}"`))).toBe(true);
    // Logged with the status it was answered, not as a client that left (499).
    const line = JSON.parse(stack.kw.logs.find((l) => l.includes(`"reqId":"${id}"`))!) as Record<
      string,
      unknown
    >;
    expect(line).toMatchObject({ status: 400, errorCode: 'malformed_request' });
  });

  it('still answers malformed HTTP between responses', async () => {
    const connection = await rawConnection(stack.kw.dataUrl, 'GARBAGE / NOT-HTTP\r\n\r\n');
    const received = await connection.closed;
    expect(received).toMatch(/^HTTP\/1\.1 400 /);
    expect(received).toContain('"code":"malformed_request"');
  });
});
