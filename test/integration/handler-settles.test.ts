import { tracingChannel } from 'node:diagnostics_channel';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORMATS, type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * A request the gateway answered must not leave its route handler failing behind the answer:
 * Fastify drops such an error once the reply is sent (its logger is off here), so nothing but its
 * tracing channel shows it. The forwarder awaited the reply, a thenable, and read the `undefined`
 * it settles to as a failure: a TypeError on every answered request, streamed or not.
 */
describe('route handlers of answered requests', () => {
  let setup: FormatGateway;
  const failures: unknown[] = [];
  const channel = tracingChannel('fastify.request.handler');
  const handlers = {
    start() {},
    end() {},
    asyncStart() {},
    asyncEnd() {},
    error(message: unknown) {
      failures.push((message as { error?: unknown }).error);
    },
  };

  beforeAll(async () => {
    setup = await startFormatGateway();
    channel.subscribe(handlers);
  });
  afterAll(async () => {
    channel.unsubscribe(handlers);
    await setup?.close();
  });

  const post = async (path: string, body: object) => {
    const res = await request(`${setup.kw.dataUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.body.text();
    return { status: res.statusCode, text };
  };

  it.each(FORMATS)('settle without an error for chat to %s, streamed and not', async (format) => {
    failures.length = 0;
    const messages = [{ role: 'user', content: 'Hello' }];
    const plain = await post('/v1/chat/completions', { model: `${format}/any-model`, messages });
    const streamed = await post('/v1/chat/completions', {
      model: `${format}/any-model`,
      messages,
      stream: true,
    });
    const messagesApi = await post('/v1/messages', {
      model: `${format}/any-model`,
      max_tokens: 16,
      messages,
    });
    const responses = await post('/v1/responses', {
      model: `${format}/any-model`,
      input: 'Hello',
      stream: true,
    });
    expect([plain.status, streamed.status, messagesApi.status, responses.status]).toEqual([
      200, 200, 200, 200,
    ]);
    expect(streamed.text).toContain('data: [DONE]');
    // The handlers of the streams settle once their streams have ended.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(failures).toEqual([]);
  });
});
