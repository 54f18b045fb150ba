import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { PROVIDER_KEY } from '../support/setup.js';

/**
 * Gemini bills audio input above text (gemini-2.5-flash: $1.00 a million against $0.30; 2.0 Flash
 * $0.70 against $0.10) and reports it by modality (`promptTokensDetails`, `cacheTokensDetails`);
 * OpenAI's audio models too (`prompt_tokens_details.audio_tokens`). Every input token was priced at
 * the text rate, no price could name an audio one, and a budget reserved inline audio at the text
 * rate: requests at once overran it at the audio rate the provider bills.
 */

/** 900 of 1,000 input tokens audio, 20 output: 900 × $1 + 100 × $0.30 + 20 × $2.50 at gemini-2.5-flash. */
const HEARD: Script = {
  blocks: [{ type: 'text', text: 'A dog barks twice.' }],
  stop: 'end',
  usage: { input: 1_000, audio: 900, output: 20 },
};
const HEARD_MICROS = Math.round(900 * 1 + 100 * 0.3 + 20 * 2.5);
/** The first bytes of a WAV file: what the provider counts is its seconds, not these. */
const WAV = Buffer.from('RIFF$\u0000\u0000\u0000WAVEfmt ', 'latin1').toString('base64');
const PDF = Buffer.from('%PDF-1.4\n%%EOF\n', 'latin1').toString('base64');
const MAX_TOKENS = 100;

/** The SDK's answer to `sent`: 200, or the status of the error it threw. */
async function statusOf(sent: Promise<unknown>): Promise<number | undefined> {
  try {
    await sent;
    return 200;
  } catch (error) {
    return (error as { status?: number }).status;
  }
}

describe('audio input priced at its own rate', () => {
  let gemini: FakeProvider;
  let openai: FakeProvider;
  let kw: TestGateway;

  beforeAll(async () => {
    gemini = await startFakeProvider('gemini', { keys: [PROVIDER_KEY] });
    openai = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    const keys = { env: 'PROVIDER_KEY' };
    kw = await startTestGateway(
      {
        providers: [
          { id: 'gemini', type: 'gemini', baseUrl: gemini.baseUrl, keys },
          { id: 'openai', type: 'openai', baseUrl: openai.baseUrl, keys },
        ],
        models: [
          { name: 'flash', provider: 'gemini', model: 'gemini-2.5-flash' },
          { name: 'listener', provider: 'gemini', model: 'listener-model' },
          { name: 'gpt-audio', provider: 'openai', model: 'house-audio-model' },
        ],
        pricing: {
          // $0.10 a million for text, $1 for audio: the 200,000-token window is $0.02 or $0.20.
          'listener-model': { input: 0.1, audioInput: 1, output: 2 },
          'house-audio-model': { input: 2.5, audioInput: 40, output: 10 },
        },
      },
      { PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await gemini?.close();
    await openai?.close();
  });

  const mint = async (usd: number) => {
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: `audio-${usd}`,
      budget: { usd, period: 'day' },
    });
    expect(minted.status).toBe(201);
    return minted.json as { id: string; token: string };
  };
  const charged = async (tokenId: string) =>
    (await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${tokenId}`)).json.rows[0] as
      | { requests: number; inputTokens: number; costMicros: number }
      | undefined;
  const genai = (token: string) => new GoogleGenAI({ apiKey: token, httpOptions: { baseUrl: kw.dataUrl } });
  const chat = (token: string) => new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: token, maxRetries: 0 });
  const audioParts = [{ inlineData: { mimeType: 'audio/wav', data: WAV } }, 'What is this sound?'];

  it('charges the audio Gemini reports at its audio rate, whole or streamed', async () => {
    const { id, token } = await mint(10);
    gemini.script(HEARD);
    const ai = genai(token);
    const answer = await ai.models.generateContent({
      model: 'flash',
      contents: audioParts,
      config: { maxOutputTokens: MAX_TOKENS },
    });
    expect(answer.text).toBe('A dog barks twice.');
    await expect.poll(async () => (await charged(id))?.requests).toBe(1);
    expect((await charged(id))?.costMicros).toBe(HEARD_MICROS);

    // Every chunk of a Gemini stream counts the whole prompt: the last one's count is the answer's.
    gemini.script({ ...HEARD, usageEveryChunk: true });
    let text = '';
    for await (const chunk of await ai.models.generateContentStream({
      model: 'flash',
      contents: audioParts,
      config: { maxOutputTokens: MAX_TOKENS },
    })) {
      text += chunk.text ?? '';
    }
    expect(text).toBe('A dog barks twice.');
    await expect.poll(async () => (await charged(id))?.requests).toBe(2);
    const both = await charged(id);
    expect(both?.costMicros).toBe(2 * HEARD_MICROS);
    expect(both?.inputTokens).toBe(2_000);
  });

  it('charges Gemini audio translated to Chat Completions, and tells the client its audio tokens', async () => {
    const { id, token } = await mint(10);
    const client = chat(token);
    // A file part carries the audio to Gemini, as `input_audio` would.
    const file = { filename: 'bark.wav', file_data: `data:audio/wav;base64,${WAV}` };
    const messages = [
      {
        role: 'user' as const,
        content: [
          { type: 'file' as const, file },
          { type: 'text' as const, text: 'What is this sound?' },
        ],
      },
    ];
    gemini.script(HEARD);
    const answer = await client.chat.completions.create({ model: 'flash', max_tokens: MAX_TOKENS, messages });
    expect(answer.usage?.prompt_tokens_details?.audio_tokens).toBe(900);
    gemini.script({ ...HEARD, usageEveryChunk: true });
    const stream = await client.chat.completions.create({
      model: 'flash',
      max_tokens: MAX_TOKENS,
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    expect(usage?.prompt_tokens_details?.audio_tokens).toBe(900);
    await expect.poll(async () => (await charged(id))?.requests).toBe(2);
    expect((await charged(id))?.costMicros).toBe(2 * HEARD_MICROS);
  });

  it('charges audio read from the cache at the audio rate discounted as the cached text rate is', async () => {
    // 600 cached, 400 of them audio: 200 × $0.03 + 400 × $0.10 (a tenth of $1, as $0.03 is of
    // $0.30) + 400 fresh audio × $1 + 20 × $2.50.
    const { id, token } = await mint(10);
    gemini.script({
      ...HEARD,
      usage: { input: 1_000, audio: 800, cached: 600, cachedAudio: 400, output: 20 },
    });
    await genai(token).models.generateContent({
      model: 'flash',
      contents: audioParts,
      config: { maxOutputTokens: MAX_TOKENS },
    });
    await expect.poll(async () => (await charged(id))?.requests).toBe(1);
    expect((await charged(id))?.costMicros).toBe(Math.round(200 * 0.03 + 400 * 0.1 + 400 * 1 + 20 * 2.5));
  });

  it("charges an OpenAI-format provider's audio tokens at the price's audio rate", async () => {
    const { id, token } = await mint(10);
    openai.script(HEARD);
    const answer = await chat(token).chat.completions.create({
      model: 'gpt-audio',
      max_tokens: MAX_TOKENS,
      messages: [
        {
          role: 'user',
          content: [{ type: 'input_audio', input_audio: { data: WAV, format: 'wav' } }],
        },
      ],
    });
    expect(answer.usage?.prompt_tokens_details?.audio_tokens).toBe(900);
    await expect.poll(async () => (await charged(id))?.requests).toBe(1);
    expect((await charged(id))?.costMicros).toBe(900 * 40 + 100 * 2.5 + 20 * 10);
  });

  it('reserves audio at the audio rate, and other media at the text rate', async () => {
    const { token } = await mint(0.1);
    gemini.script({ ...HEARD, usage: { input: 20, output: 5 } });
    const ai = genai(token);
    const send = (inlineData: { mimeType: string; data: string }) =>
      statusOf(
        ai.models.generateContent({
          model: 'listener',
          contents: [{ inlineData }, 'What is this?'],
          config: { maxOutputTokens: MAX_TOKENS },
        }),
      );
    // The window at $1 a million, $0.20, is more than the $0.10 budget; at $0.10, $0.02, it is not.
    const before = gemini.requests.length;
    expect(await send({ mimeType: 'audio/wav', data: WAV })).toBe(429);
    expect(await send({ mimeType: 'video/mp4', data: WAV })).toBe(429);
    const translated = chat(token).chat.completions.create({
      model: 'listener',
      max_tokens: MAX_TOKENS,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'file', file: { filename: 'bark.wav', file_data: `data:audio/wav;base64,${WAV}` } },
          ],
        },
      ],
    });
    expect(await statusOf(translated)).toBe(429);
    expect(gemini.requests.length).toBe(before);
    expect(await send({ mimeType: 'application/pdf', data: PDF })).toBe(200);
  });

  it('reserves input named by address at the audio rate only where it may be audio', async () => {
    const { token } = await mint(0.1);
    const ai = genai(token);
    const named = (fileData: { fileUri: string; mimeType?: string }) => {
      gemini.script({ ...HEARD, usage: { input: 20, output: 5 } });
      return statusOf(
        ai.models.generateContent({
          model: 'listener',
          contents: [{ role: 'user', parts: [{ fileData }, { text: 'Summarize.' }] }],
          config: { maxOutputTokens: MAX_TOKENS },
        }),
      );
    };
    // A PDF or an image by URL, of a stated type, is read as one: the window at the text rate.
    expect(await named({ fileUri: 'https://example.com/report.pdf', mimeType: 'application/pdf' })).toBe(200);
    expect(await named({ fileUri: 'https://example.com/cat.png', mimeType: 'image/png' })).toBe(200);
    // Audio or video by address, or an upload of no stated type, may be heard: the audio rate.
    expect(await named({ fileUri: 'https://example.com/bark.mp3', mimeType: 'audio/mpeg' })).toBe(429);
    expect(await named({ fileUri: 'https://example.com/clip.mp4', mimeType: 'video/mp4' })).toBe(429);
    expect(await named({ fileUri: 'files/abc' })).toBe(429);
  });

  it('admits at most the budget in audio sent at once', async () => {
    // The provider bills what it heard: 200,000 tokens of audio, $0.20 a request.
    gemini.script({ ...HEARD, usage: { input: 200_000, audio: 200_000, output: 5 } });
    const budget = 0.5;
    const { id, token } = await mint(budget);
    const ai = genai(token);
    const statuses = await Promise.all(
      Array.from({ length: 5 }, () =>
        statusOf(
          ai.models.generateContent({
            model: 'listener',
            contents: audioParts,
            config: { maxOutputTokens: MAX_TOKENS },
          }),
        ),
      ),
    );
    expect(statuses.every((status) => status === 200 || status === 429)).toBe(true);
    const passed = statuses.filter((status) => status === 200).length;
    expect(passed).toBeGreaterThan(0);
    await expect.poll(async () => (await charged(id))?.requests).toBe(passed);
    expect((await charged(id))?.costMicros).toBeLessThanOrEqual(budget * 1e6);
  });
});
