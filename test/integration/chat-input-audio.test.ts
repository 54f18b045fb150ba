import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORMATS, type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { CLIENT_KEY } from '../support/setup.js';
import { GREETING } from '../support/weather-scripts.js';

/**
 * A Chat Completions client's `input_audio` on a translated route: Gemini reads it as the audio it
 * is, and a provider that reads no audio refuses it at the client's part, sending nothing. A
 * `file` part of audio is audio too, and keeps its `filename` where a format has a place for it
 * (a stored conversation's `input_file`).
 */

const WAV = Buffer.from('RIFF\0\0\0\0WAVEfmt ').toString('base64');
const MP3 = Buffer.from('ID3\u0004\0\0').toString('base64');

let setup: FormatGateway;
let openai: OpenAI;

beforeAll(async () => {
  setup = await startFormatGateway();
  for (const format of FORMATS) setup.fakes[format].script(GREETING);
  openai = new OpenAI({ baseURL: `${setup.kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
});
afterAll(() => setup?.close());

const heard = (model: string) =>
  openai.chat.completions.create({
    model,
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is said?' },
          { type: 'input_audio', input_audio: { data: WAV, format: 'wav' } },
          { type: 'input_audio', input_audio: { data: MP3, format: 'mp3' } },
        ],
      },
    ],
  });

describe("a Chat Completions client's input_audio", () => {
  it('reaches a Gemini provider as inline audio of its type', async () => {
    await heard('gemini/gemini-2.5-flash');
    const sent = setup.fakes.gemini.requests.at(-1)!.body as { contents: unknown[] };
    expect(sent.contents).toEqual([
      {
        role: 'user',
        parts: [
          { text: 'What is said?' },
          { inlineData: { mimeType: 'audio/wav', data: WAV } },
          { inlineData: { mimeType: 'audio/mpeg', data: MP3 } },
        ],
      },
    ]);
  });

  it.each(['anthropic', 'ollama'] as const)('is refused at its part for %s', async (format) => {
    const before = setup.fakes[format].requests.length;
    const refused = await heard(`${format}/some-model`).then(
      () => undefined,
      (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
    );
    expect(refused?.status).toBe(400);
    expect(refused?.code).toBe('unsupported_for_provider');
    expect(refused?.param).toBe('messages[0].content[1]');
    expect(refused?.message).toContain('cannot read audio');
    expect(setup.fakes[format].requests.length).toBe(before);
  });
});

describe("a Chat Completions client's file part of audio", () => {
  it('keeps its filename in a Keyward conversation', async () => {
    const conversation = await openai.conversations.create();
    await openai.chat.completions.create(
      {
        model: 'gemini/gemini-2.5-flash',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'file', file: { file_data: `data:audio/wav;base64,${WAV}`, filename: 'talk.wav' } },
            ],
          },
        ],
      },
      { headers: { 'x-keyward-conversation': conversation.id } },
    );
    const sent = setup.fakes.gemini.requests.at(-1)!.body as { contents: unknown[] };
    expect(sent.contents).toEqual([
      { role: 'user', parts: [{ inlineData: { mimeType: 'audio/wav', data: WAV } }] },
    ]);
    // Replayed on the next turn as the audio it is.
    await openai.chat.completions.create(
      { model: 'gemini/gemini-2.5-flash', messages: [{ role: 'user', content: 'And now?' }] },
      { headers: { 'x-keyward-conversation': conversation.id } },
    );
    expect((setup.fakes.gemini.requests.at(-1)!.body as { contents: unknown[] }).contents[0]).toEqual(
      sent.contents[0],
    );
    const items = await openai.conversations.items.list(conversation.id, { order: 'asc' });
    expect((items.data[0] as { content: unknown }).content).toEqual([
      { type: 'input_file', file_data: `data:audio/wav;base64,${WAV}`, filename: 'talk.wav' },
    ]);
  });
});
