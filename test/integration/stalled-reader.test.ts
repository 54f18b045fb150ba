import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { rawConnection } from '../support/raw-socket.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

const IDLE_MS = 400;

/**
 * A client that stops reading a stream holds the provider's connection: the gateway stops reading
 * it in turn, and the provider's idle timeout does not run while it waits. Enough such clients
 * would hold every connection to the provider, so one that takes nothing for the provider's idle
 * timeout is cut.
 */
describe('a client that stops reading a stream', () => {
  let fake: FakeProvider;
  let kw: TestGateway;
  beforeAll(async () => {
    fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          {
            id: 'openai',
            type: 'openai',
            baseUrl: fake.baseUrl,
            keys: { env: 'PROVIDER_KEY' },
            timeouts: { idleMs: IDLE_MS },
          },
        ],
        models: [{ name: 'gpt', provider: 'openai', model: 'gpt-4o-mini' }],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await fake?.close();
  });

  it("is cut once it has taken nothing for the provider's idle timeout", async () => {
    // More than the kernel's socket buffers on both ends hold, in pieces of 1 MB.
    fake.script({
      blocks: [{ type: 'text', text: 'x'.repeat(24 * 1024 * 1024) }],
      stop: 'end',
      usage: { input: 5, output: 5 },
      chunkSize: 1024 * 1024,
    });
    const body = JSON.stringify({ model: 'gpt', stream: true, messages: [{ role: 'user', content: 'Hi' }] });
    const connection = await rawConnection(
      kw.dataUrl,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n` +
        `Authorization: Bearer ${CLIENT_KEY}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    await connection.waitFor('HTTP/1.1 200');
    connection.socket.pause();
    await sleep(IDLE_MS * 4);
    connection.socket.resume();
    const received = await connection.closed;
    expect(received).toContain('chat.completion.chunk');
    expect(received).not.toContain('data: [DONE]');
  });
});
