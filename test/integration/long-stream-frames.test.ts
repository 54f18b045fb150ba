import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * Stream frames (an SSE event, an NDJSON line) of megabytes, written in 16 KiB pieces as TLS
 * delivers them. A long frame used to be searched again from its start at every piece: an event of
 * 4 MB held the gateway's event loop for two seconds, and one that never ended grew its
 * memory until the total deadline. Now each piece is looked at once, and a frame longer than
 * 64 Mi characters ends the stream as cut.
 */
const PIECE = 16 * 1024;
const LONG_TEXT = 'x'.repeat(2 * 1024 * 1024);
const ENDLESS = 65 * 1024 * 1024;

type Mode = 'long' | 'endless';

/** Writes `text` in PIECE-sized writes, waiting for each to drain, as a slow network would deliver it. */
async function writeInPieces(res: ServerResponse, text: string): Promise<void> {
  for (let at = 0; at < text.length; at += PIECE) {
    if (res.destroyed) return;
    if (!res.write(text.slice(at, at + PIECE))) await new Promise((resolve) => res.once('drain', resolve));
  }
}

function openaiStream(content: string): string[] {
  const chunk = (delta: object, finish: string | null) =>
    `data: ${JSON.stringify({
      id: 'chatcmpl-long',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'gpt-4o',
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    })}\n\n`;
  return [
    chunk({ role: 'assistant', content: '' }, null),
    chunk({ content }, null),
    chunk({}, 'stop'),
    `data: ${JSON.stringify({ id: 'chatcmpl-long', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o', choices: [], usage: { prompt_tokens: 3, completion_tokens: 9, total_tokens: 12 } })}\n\n`,
    'data: [DONE]\n\n',
  ];
}

function ollamaStream(content: string): string[] {
  const line = (fields: object) =>
    `${JSON.stringify({ model: 'llama3', created_at: '2026-01-01T00:00:00Z', ...fields })}\n`;
  return [
    line({ message: { role: 'assistant', content }, done: false }),
    line({
      message: { role: 'assistant', content: '' },
      done: true,
      done_reason: 'stop',
      prompt_eval_count: 3,
      eval_count: 9,
    }),
  ];
}

describe('stream frames of megabytes', () => {
  let provider: Server;
  let mode: Mode = 'long';
  let kw: TestGateway;
  let openai: OpenAI;

  beforeAll(async () => {
    provider = createServer((req, res) => {
      req.resume();
      req.on('end', async () => {
        const ollama = req.url === '/api/chat';
        res.writeHead(200, { 'content-type': ollama ? 'application/x-ndjson' : 'text/event-stream' });
        if (mode === 'endless') {
          // One whole frame first: the client's stream has begun when the endless one comes.
          await writeInPieces(res, (ollama ? ollamaStream('Hi') : openaiStream('Hi'))[0]!);
          await writeInPieces(
            res,
            ollama ? '{"message":{"content":"' : 'data: {"choices":[{"delta":{"content":"',
          );
          await writeInPieces(res, 'y'.repeat(ENDLESS));
          res.end();
          return;
        }
        for (const frame of ollama ? ollamaStream(LONG_TEXT) : openaiStream(LONG_TEXT))
          await writeInPieces(res, frame);
        res.end();
      });
    });
    await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;
    const keys = { env: 'PROVIDER_KEY' };
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          { id: 'oa', type: 'openai', baseUrl: `${url}/v1`, keys, timeouts: { totalMs: 60_000 } },
          { id: 'local', type: 'ollama', baseUrl: url, timeouts: { totalMs: 60_000 } },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
    );
    openai = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await kw?.close();
    await new Promise((resolve) => provider?.close(resolve));
  });

  const streamed = async (model: string): Promise<string> => {
    const stream = await openai.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'Go on.' }],
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    return text;
  };

  it('relays an SSE event of 2 MB whole', async () => {
    mode = 'long';
    expect(await streamed('oa/gpt-4o')).toBe(LONG_TEXT);
  }, 30_000);

  it('translates an NDJSON line of 2 MB whole', async () => {
    mode = 'long';
    expect(await streamed('local/llama3')).toBe(LONG_TEXT);
  }, 30_000);

  it('ends a stream whose frame never ends as interrupted, relayed and translated', async () => {
    mode = 'endless';
    for (const model of ['oa/gpt-4o', 'local/llama3']) {
      const error = await streamed(model).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error, model).toBeInstanceOf(OpenAI.APIError);
      expect(String((error as Error).message), model).toMatch(/interrupted|provider/i);
    }
    const failed = kw.logs
      .map((line) => JSON.parse(line) as { route?: string; streamError?: string })
      .filter((line) => line.route === '/v1/chat/completions' && line.streamError);
    expect(failed.map((line) => line.streamError)).toEqual(['cut', 'cut']);
    // A stream cut for its frame's length leaves the provider's only key in rotation: the next
    // request is served with it.
    mode = 'long';
    expect(await streamed('oa/gpt-4o')).toBe(LONG_TEXT);
  }, 60_000);
});
