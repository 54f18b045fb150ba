import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ANSWER_BYTES } from '../../src/upstream/response-body.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

const MiB = 1024 * 1024;

/**
 * A provider answering a non-streamed request with more bytes than any answer holds (a server gone
 * wrong, or something posing as one): read whole, every such answer grew the gateway's heap by its
 * size, and a few at once ended the process. It is cut at MAX_ANSWER_BYTES and answered 502.
 */
describe("a provider's answer past the size bound", () => {
  let provider: Server;
  let kw: TestGateway;
  let sent = 0;
  beforeAll(async () => {
    provider = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[]');
      // JSON whitespace, a mebibyte at a time, until the gateway stops reading.
      const pad = Buffer.alloc(MiB, 0x20);
      sent = 0;
      const more = () => {
        while (sent <= MAX_ANSWER_BYTES + 8 * MiB) {
          sent += pad.length;
          if (!res.write(pad)) return void res.once('drain', more);
        }
        res.end('}');
      };
      res.on('error', () => undefined);
      more();
    });
    provider.listen(0, '127.0.0.1');
    await once(provider, 'listening');
    const { port } = provider.address() as AddressInfo;
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          { id: 'big', type: 'openai', baseUrl: `http://127.0.0.1:${port}/v1`, keys: { env: 'P_KEY' } },
        ],
        models: [{ name: 'fast', provider: 'big', model: 'gpt-4o-mini' }],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY },
    );
  });
  afterAll(async () => {
    await kw.close();
    provider.closeAllConnections();
    provider.close();
  });

  it('is refused with 502, read no further than the bound', async () => {
    const client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    const failure = await client.chat.completions
      .create({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect((failure as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((failure as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({
      code: 'provider_answer_too_large',
      message: expect.stringContaining(`${MAX_ANSWER_BYTES / MiB} MiB`),
    });
    expect(sent).toBeLessThan(MAX_ANSWER_BYTES + 8 * MiB);
  });
});
