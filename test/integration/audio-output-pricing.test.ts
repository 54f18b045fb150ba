import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { PROVIDER_KEY } from '../support/setup.js';

/**
 * OpenAI's audio models speak their answers when asked (`modalities: ["text", "audio"]`), and bill
 * the spoken tokens, which the answer reports in `usage.completion_tokens_details.audio_tokens`, at
 * an audio output rate far above text (gpt-4o-audio-preview: $80 a million against $10). Every
 * output token was charged at the text rate, no price could name an audio one, and a budget
 * reserved a request that may speak at the text rate: requests at once overran it.
 */

/** 1,000 output tokens, 900 of them spoken; 100 input. */
const SPOKEN: Script = {
  blocks: [{ type: 'text', text: 'Two barks.' }],
  stop: 'end',
  usage: { input: 100, output: 1_000, audioOutput: 900 },
};
/** At `house-voice`: 100 × $2.50 + 100 × $10 + 900 × $80. */
const SPOKEN_MICROS = 100 * 2.5 + 100 * 10 + 900 * 80;
const MAX_TOKENS = 1_000;
const SPEAK = {
  modalities: ['text', 'audio'] as Array<'text' | 'audio'>,
  audio: { voice: 'alloy', format: 'wav' as const },
};
const messages = [{ role: 'user' as const, content: 'What does a dog say?' }];

async function statusOf(sent: Promise<unknown>): Promise<number | undefined> {
  try {
    await sent;
    return 200;
  } catch (error) {
    return (error as { status?: number }).status;
  }
}

describe('audio output priced at its own rate', () => {
  let openai: FakeProvider;
  let kw: TestGateway;

  beforeAll(async () => {
    openai = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        providers: [{ id: 'openai', type: 'openai', baseUrl: openai.baseUrl, keys: { env: 'PROVIDER_KEY' } }],
        models: [
          { name: 'voice', provider: 'openai', model: 'house-voice' },
          { name: 'gpt-4o-audio-preview', provider: 'openai', model: 'gpt-4o-audio-preview' },
        ],
        pricing: { 'house-voice': { input: 2.5, audioInput: 40, output: 10, audioOutput: 80 } },
      },
      { PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await openai?.close();
  });

  const mint = async (usd: number) => {
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: `voice-${usd}`,
      budget: { usd, period: 'day' },
    });
    expect(minted.status).toBe(201);
    return minted.json as { id: string; token: string };
  };
  const charged = async (tokenId: string) =>
    (await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${tokenId}`)).json.rows[0] as
      | { requests: number; outputTokens: number; costMicros: number }
      | undefined;
  const chat = (token: string) => new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: token, maxRetries: 0 });

  it('charges the audio an answer spoke at the audio output rate, whole or streamed', async () => {
    const { id, token } = await mint(10);
    const client = chat(token);
    openai.script(SPOKEN);
    const answer = await client.chat.completions.create({
      model: 'voice',
      max_tokens: MAX_TOKENS,
      messages,
      ...SPEAK,
    });
    expect(answer.usage?.completion_tokens_details?.audio_tokens).toBe(900);
    await expect.poll(async () => (await charged(id))?.requests).toBe(1);
    expect((await charged(id))?.costMicros).toBe(SPOKEN_MICROS);

    // The gateway asks the stream for its usage on the client's behalf.
    openai.script(SPOKEN);
    const stream = await client.chat.completions.create({
      model: 'voice',
      max_tokens: MAX_TOKENS,
      messages,
      stream: true,
      ...SPEAK,
    });
    for await (const _chunk of stream);
    await expect.poll(async () => (await charged(id))?.requests).toBe(2);
    expect((await charged(id))?.costMicros).toBe(2 * SPOKEN_MICROS);
  });

  it("prices OpenAI's audio models' spoken output as OpenAI lists it", async () => {
    const { id, token } = await mint(10);
    openai.script(SPOKEN);
    await chat(token).chat.completions.create({
      model: 'gpt-4o-audio-preview',
      max_tokens: MAX_TOKENS,
      messages,
      ...SPEAK,
    });
    await expect.poll(async () => (await charged(id))?.requests).toBe(1);
    // The built-in price: $2.50 and $10 for text, $80 a million spoken tokens.
    expect((await charged(id))?.costMicros).toBe(SPOKEN_MICROS);
  });

  it('reserves a request that may speak at the audio output rate', async () => {
    // 1,000 output tokens reserved: $0.01 at the text rate fits a $0.03 budget, $0.08 spoken does not.
    const { token } = await mint(0.03);
    const client = chat(token);
    const send = (extra: object) => {
      openai.script({ ...SPOKEN, usage: { input: 10, output: 5 } });
      return statusOf(
        client.chat.completions.create({ model: 'voice', max_tokens: MAX_TOKENS, messages, ...extra }),
      );
    };
    const before = openai.requests.length;
    expect(await send(SPEAK)).toBe(429);
    expect(await send({ modalities: ['text', 'audio'] })).toBe(429);
    expect(await send({ audio: SPEAK.audio })).toBe(429);
    expect(openai.requests.length).toBe(before);
    expect(await send({})).toBe(200);
    expect(await send({ modalities: ['text'] })).toBe(200);
  });

  it('charges a spoken stream cut before its usage what it reserved, at the audio output rate', async () => {
    const { id, token } = await mint(10);
    openai.script({ ...SPOKEN, fault: { kind: 'cut', afterEvents: 2 } });
    const stream = await chat(token).chat.completions.create({
      model: 'voice',
      max_tokens: MAX_TOKENS,
      messages,
      stream: true,
      ...SPEAK,
    });
    await expect(
      (async () => {
        for await (const _chunk of stream);
      })(),
    ).rejects.toThrow();
    await expect.poll(async () => (await charged(id))?.requests).toBe(1);
    // The reserved output, every token of it at $80 a million, beside the input's estimate.
    expect((await charged(id))?.costMicros).toBeGreaterThanOrEqual(MAX_TOKENS * 80);
  });
});
