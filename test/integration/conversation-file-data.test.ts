import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORMATS, type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { CLIENT_KEY } from '../support/setup.js';
import { GREETING } from '../support/weather-scripts.js';

/**
 * A Gemini client keeping its history in a Keyward conversation (`x-keyward-conversation`): every
 * turn goes through the canonical form and its stored items. The history replayed on the next
 * turn sends Gemini what the first turn sent: a `fileData` web address with its `mimeType`, and
 * a YouTube URL, which only Gemini reads.
 */

const MODEL = 'gemini/gemini-2.5-flash';

let setup: FormatGateway;
let openai: OpenAI;

beforeAll(async () => {
  setup = await startFormatGateway();
  for (const format of FORMATS) setup.fakes[format].script(GREETING);
  openai = new OpenAI({ baseURL: `${setup.kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
});
afterAll(() => setup?.close());

const sentContents = () => (setup.fakes.gemini.requests.at(-1)!.body as { contents: unknown[] }).contents;

let conversationId = '';

async function inConversation(): Promise<GoogleGenAI> {
  conversationId = (await openai.conversations.create()).id;
  return new GoogleGenAI({
    apiKey: CLIENT_KEY,
    httpOptions: { baseUrl: setup.kw.dataUrl, headers: { 'x-keyward-conversation': conversationId } },
  });
}

/** The content of the conversation's first stored item. */
async function storedFirst(): Promise<unknown> {
  const items = await openai.conversations.items.list(conversationId, { order: 'asc' });
  return (items.data[0] as { content: unknown }).content;
}

describe("a Gemini client's fileData in a Keyward conversation", () => {
  it('keeps a web address its mimeType on the next turns', async () => {
    for (const [fileUri, mimeType] of [
      ['https://example.com/cat.png', 'image/png'],
      ['https://example.com/report.pdf', 'application/pdf'],
      ['https://example.com/photo', 'image/webp'],
    ] as const) {
      const gemini = await inConversation();
      const first = { role: 'user', parts: [{ text: 'Look:' }, { fileData: { fileUri, mimeType } }] };
      await gemini.models.generateContent({ model: MODEL, contents: [first] });
      expect(sentContents()[0]).toEqual(first);
      await gemini.models.generateContent({ model: MODEL, contents: 'And now?' });
      expect(sentContents()[0]).toEqual(first);
    }
    // The stored item says the type beside the address, and takes it back as listed.
    const [, shown] = (await storedFirst()) as Array<Record<string, unknown>>;
    expect(shown).toEqual({
      type: 'input_image',
      image_url: 'https://example.com/photo',
      detail: 'auto',
      mime_type: 'image/webp',
    });
    const copy = await openai.conversations.create({
      items: [{ type: 'message', role: 'user', content: [shown as never] }],
    });
    const again = new GoogleGenAI({
      apiKey: CLIENT_KEY,
      httpOptions: { baseUrl: setup.kw.dataUrl, headers: { 'x-keyward-conversation': copy.id } },
    });
    await again.models.generateContent({ model: MODEL, contents: 'And now?' });
    expect(sentContents()[0]).toEqual({
      role: 'user',
      parts: [
        { fileData: { fileUri: 'https://example.com/photo', mimeType: 'image/webp' } },
        { text: 'And now?' },
      ],
    });
  });

  it('keeps a YouTube URL, first turn and next', async () => {
    const gemini = await inConversation();
    const fileUri = 'https://www.youtube.com/watch?v=9hE5-98ZeCg';
    const first = { role: 'user', parts: [{ fileData: { fileUri } }, { text: 'Sum up' }] };
    await gemini.models.generateContent({ model: MODEL, contents: [first] });
    expect(sentContents()[0]).toEqual(first);
    await gemini.models.generateContent({ model: MODEL, contents: 'And now?' });
    expect(sentContents()[0]).toEqual(first);
    // Stored as Gemini's, as another format's file reference is: no other provider reads it.
    expect(await storedFirst()).toEqual([
      { type: 'input_file', file_id: `kwf1.gemini.${fileUri}` },
      { type: 'input_text', text: 'Sum up' },
    ]);
    const before = setup.fakes.openai.requests.length;
    const refused = await openai.responses
      .create({ model: 'openai/gpt-4o-mini', conversation: conversationId, input: 'And on OpenAI?' })
      .then(
        () => undefined,
        (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
      );
    expect(refused?.status).toBe(400);
    expect(refused?.message).toContain('a file reference only Gemini reads');
    expect(setup.fakes.openai.requests.length).toBe(before);
  });
});

describe("a Gemini client's audio and video in a Keyward conversation", () => {
  const WAV = Buffer.from('RIFF\0\0\0\0WAVEfmt ').toString('base64');

  it('reach Gemini as sent, first turn and replayed', async () => {
    const gemini = await inConversation();
    const upload = 'https://generativelanguage.googleapis.com/v1beta/files/clip-1';
    const first = {
      role: 'user',
      parts: [
        { fileData: { fileUri: 'https://example.com/talk.mp4', mimeType: 'video/mp4' } },
        { fileData: { fileUri: upload, mimeType: 'video/webm' } },
        { inlineData: { mimeType: 'audio/wav', data: WAV } },
        { text: 'What is said?' },
      ],
    };
    await gemini.models.generateContent({ model: MODEL, contents: [first] });
    expect(sentContents()[0]).toEqual(first);
    await gemini.models.generateContent({ model: MODEL, contents: 'And now?' });
    expect(sentContents()[0]).toEqual(first);
    // Stored as files of their type, as a listed item shows them.
    expect(await storedFirst()).toEqual([
      { type: 'input_file', file_url: 'https://example.com/talk.mp4', mime_type: 'video/mp4' },
      { type: 'input_file', file_id: `kwf1.gemini.${upload}`, mime_type: 'video/webm' },
      { type: 'input_file', file_data: `data:audio/wav;base64,${WAV}` },
      { type: 'input_text', text: 'What is said?' },
    ]);
  });

  it('are refused, at their part, by a provider that cannot read them', async () => {
    const gemini = await inConversation();
    const video = { fileData: { fileUri: 'https://example.com/talk.mp4', mimeType: 'video/mp4' } };
    await gemini.models.generateContent({
      model: MODEL,
      contents: [{ role: 'user', parts: [{ text: 'Watch' }, video] }],
    });
    for (const model of ['anthropic/claude-sonnet-4-5', 'openai/gpt-4o-mini', 'ollama/llava']) {
      const before = setup.fakes[model.split('/')[0] as 'openai'].requests.length;
      const refused = await openai.responses
        .create({ model, conversation: conversationId, input: 'And here?' })
        .then(
          () => undefined,
          (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
        );
      expect(refused?.status, model).toBe(400);
      expect(refused?.code, model).toBe('unsupported_for_provider');
      expect(refused?.message, model).toContain('video');
      expect(setup.fakes[model.split('/')[0] as 'openai'].requests.length, model).toBe(before);
    }
    // Sent in the request itself, the refusal names the client's part.
    const bare = new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: setup.kw.dataUrl } });
    const refused = await bare.models
      .generateContent({
        model: 'anthropic/claude-sonnet-4-5',
        contents: [
          { role: 'user', parts: [{ text: 'Hear' }, { inlineData: { mimeType: 'audio/wav', data: WAV } }] },
        ],
      })
      .then(
        () => undefined,
        (e: unknown) => e as Error & { status?: number },
      );
    expect(refused?.status).toBe(400);
    expect(refused?.message).toContain('Anthropic cannot read audio');
    expect(refused?.message).toContain('"field":"contents[0].parts[1]"');
  });

  it('go to an OpenAI-format provider as input_audio when they are WAV or MP3 data', async () => {
    const gemini = await inConversation();
    const audio = { inlineData: { mimeType: 'audio/wav', data: WAV } };
    await gemini.models.generateContent({
      model: MODEL,
      contents: [{ role: 'user', parts: [{ text: 'Listen' }, audio] }],
    });
    await openai.responses.create({
      model: 'openai/gpt-audio',
      conversation: conversationId,
      input: 'Again',
    });
    const sent = setup.fakes.openai.requests.at(-1)!.body as { messages: Array<{ content: unknown }> };
    expect(sent.messages[0]!.content).toEqual([
      { type: 'text', text: 'Listen' },
      { type: 'input_audio', input_audio: { data: WAV, format: 'wav' } },
    ]);
  });
});
