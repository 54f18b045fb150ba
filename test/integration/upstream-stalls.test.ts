import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * Upstream faults that upstream-faults.test.ts does not script through the fake provider: a
 * body cut after its headers, a provider that drips bytes forever, a host that does not resolve,
 * and a peer that accepts the connection and never says a word.
 */
const messages = [{ role: 'user', content: 'Hello' }];
const COMPLETION = JSON.stringify({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hi there' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
});

let kw: TestGateway | undefined;
const servers: Array<Server | ReturnType<typeof createHttpServer>> = [];
afterEach(async () => {
  await kw?.close();
  kw = undefined;
  for (const server of servers.splice(0)) {
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function listen<T extends Server | ReturnType<typeof createHttpServer>>(server: T): Promise<number> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

async function gatewayFor(
  baseUrl: string,
  provider: Partial<NonNullable<ConfigInput['providers']>[number]> = {},
) {
  kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [{ id: 'p', type: 'openai', baseUrl, keys: { env: 'P_KEY' }, ...provider }],
      models: [{ name: 'fast', provider: 'p', model: 'gpt-4o-mini' }],
    },
    { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY },
  );
  return kw;
}

async function chat(gateway: TestGateway, stream = false) {
  const res = await request(`${gateway.dataUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fast', messages, ...(stream && { stream: true }) }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, text };
}

describe('upstream stalls and cuts', () => {
  it('answers 502 for a response whose body is cut after its headers, never the half, then serves the next', async () => {
    let calls = 0;
    const port = await listen(
      createHttpServer((req: IncomingMessage, res: ServerResponse) => {
        req.resume();
        calls += 1;
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': COMPLETION.length });
        if (calls === 1) {
          res.write(COMPLETION.slice(0, 40));
          setTimeout(() => res.socket?.destroy(), 20);
        } else res.end(COMPLETION);
      }),
    );
    const gateway = await gatewayFor(`http://127.0.0.1:${port}/v1`, {
      retries: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
    });
    // The half body is never passed on as an answer: the cut is a 502 naming no provider detail.
    const cut = await chat(gateway);
    expect(cut.status).toBe(502);
    expect(JSON.parse(cut.text).error).toMatchObject({
      type: 'upstream_error',
      code: 'provider_unreachable',
    });
    expect(cut.text).not.toContain('chatcmpl');
    // The next request is served.
    const answer = await chat(gateway);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text).choices[0].message.content).toBe('Hi there');
  });

  it('ends a provider that drips bytes forever at the total deadline, streamed or not', async () => {
    const drips = new Set<ServerResponse>();
    const port = await listen(
      createHttpServer(async (req, res) => {
        let body = '';
        for await (const chunk of req) body += chunk;
        const stream = JSON.parse(body).stream === true;
        drips.add(res);
        res.writeHead(200, { 'content-type': stream ? 'text/event-stream' : 'application/json' });
        const payload = stream
          ? `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: 'x' }, finish_reason: null }] })}\n\n`
          : COMPLETION;
        let at = 0;
        const timer = setInterval(() => res.write(payload[at++ % payload.length]!), 10);
        res.on('close', () => {
          clearInterval(timer);
          drips.delete(res);
        });
      }),
    );
    const gateway = await gatewayFor(`http://127.0.0.1:${port}/v1`, {
      timeouts: { idleMs: 1_000, totalMs: 400 },
      retries: { maxAttempts: 1 },
    });
    const streamed = await chat(gateway, true);
    // Cut before its first event reached the client, the stream is an error answer; after, it
    // ends with an error event. Never a clean finish.
    if (streamed.status === 200) {
      expect(streamed.text).toMatch(
        /data: \{"error":\{"message":"The provider's stream ended before it finished/,
      );
    } else {
      expect(streamed.status).toBe(502);
      expect(JSON.parse(streamed.text).error.code).toBe('stream_interrupted');
    }
    expect(streamed.text).not.toContain('[DONE]');
    const plain = await chat(gateway);
    expect(plain.status).toBe(504);
    expect(JSON.parse(plain.text).error.code).toBe('provider_timeout');
    // The gateway let go of both upstream exchanges.
    await expect.poll(() => drips.size).toBe(0);
  });

  it('answers 502 provider_unreachable for a host that does not resolve, without naming it', async () => {
    const gateway = await gatewayFor('http://keyward-fault-test.invalid/v1', {
      retries: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
    });
    const answer = await chat(gateway);
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.text).error.code).toBe('provider_unreachable');
    expect(answer.text).not.toContain('keyward-fault-test');
    expect(answer.text).not.toMatch(/ENOTFOUND|EAI_AGAIN|getaddrinfo/);
  });

  it('answers 504 when a provider accepts the connection and never answers, and lets go of it', async () => {
    const open = new Set<Socket>();
    const port = await listen(
      createServer((socket) => {
        // Reads the request and says nothing, ever.
        socket.resume();
        open.add(socket);
        socket.on('close', () => open.delete(socket));
        socket.on('error', () => {});
      }),
    );
    const gateway = await gatewayFor(`http://127.0.0.1:${port}/v1`, {
      timeouts: { firstByteMs: 200 },
      retries: { maxAttempts: 1 },
    });
    for (const stream of [false, true]) {
      const answer = await chat(gateway, stream);
      expect(answer.status).toBe(504);
      expect(JSON.parse(answer.text).error.code).toBe('provider_timeout');
    }
    await expect.poll(() => open.size).toBe(0);
  });
});
