import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Script } from '../support/fake-providers/script.js';
import { type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { startTestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * A provider's `param` names a field of the body it was sent. On a route where surface and
 * provider speak the same format that body is the client's, so the param is passed on; on a
 * translated route it is the gateway's translation, whose fields (`messages.[1].content.[1]`) the
 * client never wrote, and it is left out.
 */

const PARAM = 'messages.[1].content.[1].image_url';
const REFUSED: Script = {
  blocks: [],
  stop: 'end',
  usage: { input: 0, output: 0 },
  fault: { kind: 'status', status: 400, code: 'invalid_image_url', param: PARAM, message: 'Invalid image.' },
};

let setup: FormatGateway;
let openai: OpenAI;
beforeAll(async () => {
  setup = await startFormatGateway();
  setup.fakes.openai.script(REFUSED);
  openai = new OpenAI({ baseURL: `${setup.kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
});
afterAll(() => setup?.close());

const refusedWith = (call: Promise<unknown>) =>
  call.then(
    () => {
      throw new Error('the call was not refused');
    },
    (error: unknown) => error as InstanceType<typeof OpenAI.APIError>,
  );

it('reaches a Chat Completions client of an OpenAI provider, whose body it names', async () => {
  const refused = await refusedWith(
    openai.chat.completions.create({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
    }),
  );
  expect(refused.status).toBe(400);
  expect(refused.code).toBe('invalid_image_url');
  expect(refused.param).toBe(PARAM);
});

it('is left out on translated routes: Responses, and the Gemini surface', async () => {
  const responses = await refusedWith(openai.responses.create({ model: 'openai/gpt-4o-mini', input: 'hi' }));
  expect(responses.status).toBe(400);
  expect(responses.code).toBe('invalid_image_url');
  expect(responses.param).toBeNull();
  expect(responses.message).not.toContain(PARAM);

  const res = await request(`${setup.kw.dataUrl}/v1beta/models/openai/gpt-4o-mini:generateContent`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': CLIENT_KEY },
    body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
  });
  const text = await res.body.text();
  expect(res.statusCode).toBe(400);
  expect(text).not.toContain('messages.');
  expect(text).not.toContain('fieldViolations');
  // The SDK reads the same refusal.
  const genai = new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: setup.kw.dataUrl } });
  await expect(
    genai.models.generateContent({ model: 'openai/gpt-4o-mini', contents: 'hi' }),
  ).rejects.toMatchObject({ status: 400 });
});

it("is left out of a translated stream's early error too", async () => {
  setup.fakes.openai.script({
    ...REFUSED,
    blocks: [{ type: 'text', text: 'never' }],
    fault: { kind: 'error_event', afterEvents: 0, status: 400, code: 'invalid_image_url', param: PARAM },
  });
  try {
    const refused = await refusedWith(
      openai.responses.create({ model: 'openai/gpt-4o-mini', input: 'hi', stream: true }),
    );
    expect(refused.status).toBe(400);
    expect(refused.code).toBe('invalid_image_url');
    expect(refused.param).toBeNull();
    expect(refused.message).not.toContain(PARAM);
  } finally {
    setup.fakes.openai.script(REFUSED);
  }
});

it('reaches an embeddings client of an Ollama provider, which is sent the body as written', async () => {
  // Ollama's OpenAI-compatible embeddings endpoint, refusing with OpenAI's error shape.
  const ollama = createServer((req, res) => {
    req.resume().on('end', () => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: { message: 'Input too long.', type: 'invalid_request_error', param: 'input', code: null },
        }),
      );
    });
  });
  ollama.listen(0, '127.0.0.1');
  await once(ollama, 'listening');
  const baseUrl = `http://127.0.0.1:${(ollama.address() as AddressInfo).port}`;
  const kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [{ id: 'ollama', type: 'ollama', baseUrl, retries: { maxAttempts: 1 } }],
    },
    { KEYWARD_API_KEY: CLIENT_KEY },
  );
  try {
    const client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    const refused = await refusedWith(
      client.embeddings.create({ model: 'ollama/nomic-embed-text', input: 'hi' }),
    );
    expect(refused.status).toBe(400);
    expect(refused.param).toBe('input');
  } finally {
    await kw.close();
    ollama.close();
  }
});
