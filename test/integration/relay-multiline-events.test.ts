import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { PROVIDER_KEY } from '../support/setup.js';

const CLIENT_KEY = 'kw-client-key-multiline-0123456789';

/**
 * An SSE event may carry its data over several `data:` lines, joined with a line break (as the
 * openai SDK reads them); an OpenAI-compatible server may write a chunk's JSON that way. The relay
 * cuts `"usage":null` from the chunks of a client that did not ask for usage: within the JSON,
 * never across a line break, which would join two `data:` lines into one that is not JSON.
 */
describe('a stream whose chunks span several data lines, relayed to a client that did not ask for usage', () => {
  let server: Server;
  let kw: TestGateway;

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(
          'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",\n' +
            'data: "usage": null,\n' +
            'data: "choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}\n\n',
        );
        res.write(
          'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",\n' +
            'data: "choices":[{"index":0,"delta":{"content":" there"},"finish_reason":"stop"}]\n' +
            'data: , "usage": null}\n\n',
        );
        res.write(
          'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n',
        );
        res.end('data: [DONE]\n\n');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const baseUrl = `http://127.0.0.1:${port}/v1`;
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          { id: 'compat', type: 'openai-compatible', baseUrl, keys: { env: 'P_KEY' }, streamUsage: true },
          { id: 'openai', type: 'openai', baseUrl, keys: { env: 'P_KEY' } },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    server?.close();
  });

  it.each(['compat/m', 'openai/gpt-4o-mini'])(
    '%s: every chunk reaches the SDK whole, none with usage',
    async (model) => {
      const client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
      const stream = await client.chat.completions.create({
        model,
        stream: true,
        messages: [{ role: 'user', content: 'hi' }],
      });
      const chunks: OpenAI.ChatCompletionChunk[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      expect(chunks.map((chunk) => chunk.choices[0]?.delta.content)).toEqual(['Hi', ' there']);
      expect(chunks.every((chunk) => !('usage' in chunk))).toBe(true);
    },
  );
});
