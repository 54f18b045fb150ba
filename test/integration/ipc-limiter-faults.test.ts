import { setTimeout as sleep } from 'node:timers/promises';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createIpcLimiter,
  createMemoryLimiter,
  type IpcChannel,
  serveLimiter,
} from '../../src/limits/index.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * A worker of `keyward start --workers N` whose channel to the primary fails while it decides a
 * request: the worker's limiter talks to a real memory limiter over a real message channel, whose
 * `send` then throws (the failure `createIpcLimiter` turns into rejected calls).
 */
const PRIMARY_DELAY_MS = 300;

type Fake = Awaited<ReturnType<typeof startFakeOpenAI>>;
let fake: Fake | undefined;
let kw: TestGateway | undefined;
const ports: MessagePort[] = [];
afterEach(async () => {
  await kw?.close();
  await fake?.close();
  for (const port of ports.splice(0)) port.close();
  kw = undefined;
  fake = undefined;
});

function channelPair() {
  const { port1, port2 } = new MessageChannel();
  ports.push(port1, port2);
  return [port1, port2] as const;
}

describe('a worker whose channel to the primary fails', () => {
  it('logs the lease of a client that left while the limiter decided, when it cannot be released, and calls no provider', async () => {
    const [workerPort, primaryPort] = channelPair();
    let primaryGone = false;
    const toPrimary: IpcChannel = {
      send(message) {
        if (primaryGone) throw new Error('channel closed');
        workerPort.postMessage(message);
      },
      on: (event, listener) => workerPort.on(event, listener),
    };
    // The primary answers late: the client has left, and the primary is gone, when its answer comes.
    const fromPrimary: IpcChannel = {
      send(message) {
        setTimeout(() => primaryPort.postMessage(message), PRIMARY_DELAY_MS);
      },
      on: (event, listener) => primaryPort.on(event, listener),
    };
    serveLimiter(createMemoryLimiter({ spentBefore: async () => 0 }), fromPrimary);
    // Key health, failed authentications and token traffic go over a channel nobody answers.
    const [sharing] = channelPair();

    fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        rateLimits: { staticKeys: { rpm: 100, concurrency: 1 } },
        providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
        models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY },
      undefined,
      {
        limiter: createIpcLimiter(toPrimary),
        channel: { send: (message) => sharing.postMessage(message), on: (e, l) => sharing.on(e, l) },
      },
    );

    const leaving = new AbortController();
    const gone = request(`${kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      signal: leaving.signal,
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'Hello' }] }),
    });
    await sleep(PRIMARY_DELAY_MS / 3);
    leaving.abort();
    await expect(gone).rejects.toThrow();
    primaryGone = true;

    // Before, the failed release was dropped without a word: the operator never learned that a
    // concurrency slot stays taken until its lease lapses.
    await expect
      .poll(() => kw!.logs.filter((line) => line.includes('settling rate limits failed')), { timeout: 5_000 })
      .toHaveLength(1);
    expect(kw.logs.find((line) => line.includes('settling rate limits failed'))).toContain('channel closed');
    expect(fake.requests).toHaveLength(0);
  });
});
