import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORMATS, type Format, type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { CLIENT_KEY } from '../support/setup.js';
import { GREETING } from '../support/weather-scripts.js';

/**
 * A text document (`text/*`) sent inline goes to providers that take no text file as its text:
 * Chat Completions takes only PDFs in a `file` part (OpenAI refuses `text/markdown` there with a 400
 * the client never sees), Ollama no document at all, Anthropic plain text only as the text itself.
 * Data that is not base64 of UTF-8 text is refused, naming the client's field.
 */

const MODELS: Record<Format, string> = {
  openai: 'openai/gpt-4o-mini',
  anthropic: 'anthropic/claude-sonnet-4-5',
  gemini: 'gemini/gemini-2.5-flash',
  ollama: 'ollama/llama3.2',
};
const NOTES = '# Notes\n\nQ2 revenue: 1.2M €.';
const base64 = (text: string) => Buffer.from(text).toString('base64');
/** Not UTF-8: a lone continuation byte. */
const NOT_UTF8 = Buffer.from([0x51, 0x32, 0x80, 0x0a]).toString('base64');

let setup: FormatGateway;
let openai: OpenAI;
let genai: GoogleGenAI;

beforeAll(async () => {
  setup = await startFormatGateway();
  for (const format of FORMATS) setup.fakes[format].script(GREETING);
  openai = new OpenAI({ baseURL: `${setup.kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  genai = new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: setup.kw.dataUrl } });
});
afterAll(() => setup?.close());

/** The last body the fake of `format` received. */
const sent = (format: Format) =>
  setup.fakes[format].requests.at(-1)?.body as { messages: Array<Record<string, unknown>> };

describe('on the Gemini surface, inline text', () => {
  const parts = (mimeType: string, data: string) => [
    { text: 'Summarize:' },
    { inlineData: { mimeType, data } },
  ];

  it.each(['text/plain', 'text/markdown'])('(%s) reaches OpenAI and Ollama as text', async (mimeType) => {
    const contents = [{ role: 'user', parts: parts(mimeType, base64(NOTES)) }];
    await genai.models.generateContent({ model: MODELS.openai, contents });
    expect(sent('openai').messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Summarize:' },
          { type: 'text', text: NOTES },
        ],
      },
    ]);
    await genai.models.generateContent({ model: MODELS.ollama, contents });
    expect(sent('ollama').messages).toEqual([{ role: 'user', content: `Summarize:\n\n${NOTES}` }]);
  });

  it('(text/markdown) reaches Anthropic as a plain-text document', async () => {
    await genai.models.generateContent({
      model: MODELS.anthropic,
      contents: [{ role: 'user', parts: parts('text/markdown', base64(NOTES)) }],
    });
    expect(sent('anthropic').messages[0]).toMatchObject({
      content: [
        { type: 'text', text: 'Summarize:' },
        { type: 'document', source: { type: 'text', media_type: 'text/plain', data: NOTES } },
      ],
    });
  });

  it('that is not UTF-8 is refused, naming the part', async () => {
    for (const format of ['openai', 'ollama', 'anthropic'] as const) {
      const before = setup.fakes[format].requests.length;
      const res = await request(`${setup.kw.dataUrl}/v1beta/models/${MODELS[format]}:generateContent`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-goog-api-key': CLIENT_KEY },
        body: JSON.stringify({ contents: [{ role: 'user', parts: parts('text/plain', NOT_UTF8) }] }),
      });
      const { error } = (await res.body.json()) as {
        error: { message: string; details: Array<{ fieldViolations?: Array<{ field: string }> }> };
      };
      expect(res.statusCode).toBe(400);
      expect(error.message).toContain('base64 of UTF-8 text');
      expect(error.details.find((detail) => detail.fieldViolations)?.fieldViolations?.[0]?.field).toBe(
        'contents[0].parts[1]',
      );
      expect(setup.fakes[format].requests.length).toBe(before);
    }
  });
});

describe('on the Responses surface, an input_file of text', () => {
  const ask = (format: Format, fileData: string) =>
    openai.responses.create({
      model: MODELS[format],
      store: false,
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'Summarize:' },
            { type: 'input_file', filename: 'notes.md', file_data: fileData },
          ],
        },
      ],
    });

  it('reaches OpenAI as text named after the file, as Anthropic is sent its title', async () => {
    await ask('openai', `data:text/plain;base64,${base64(NOTES)}`);
    expect(sent('openai').messages.at(-1)).toEqual({
      role: 'user',
      content: [
        { type: 'text', text: 'Summarize:' },
        { type: 'text', text: `<document title="notes.md">\n${NOTES}\n</document>` },
      ],
    });
    await ask('anthropic', `data:text/plain;base64,${base64(NOTES)}`);
    expect(sent('anthropic').messages.at(-1)).toMatchObject({
      content: [
        { type: 'text' },
        { type: 'document', source: { type: 'text', data: NOTES }, title: 'notes.md' },
      ],
    });
  });

  it('that is not UTF-8 is refused, naming the part', async () => {
    const before = setup.fakes.openai.requests.length;
    const refused = await ask('openai', `data:text/plain;base64,${NOT_UTF8}`).then(
      () => undefined,
      (error: unknown) => error as InstanceType<typeof OpenAI.APIError>,
    );
    expect(refused?.status).toBe(400);
    expect(refused?.code).toBe('unsupported_for_provider');
    expect(refused?.param).toBe('input[0].content[1]');
    expect(setup.fakes.openai.requests.length).toBe(before);
  });
});

describe('on the Anthropic surface', () => {
  it('a PDF still reaches OpenAI as a file part', async () => {
    const anthropic = new Anthropic({ baseURL: setup.kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
    const pdf = 'JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoK';
    await anthropic.messages.create({
      model: MODELS.openai,
      max_tokens: 100,
      messages: [
        {
          role: 'user',
          content: [
            {
              type: 'document',
              title: 'q3.pdf',
              source: { type: 'base64', media_type: 'application/pdf', data: pdf },
            },
          ],
        },
      ],
    });
    expect(sent('openai').messages.at(-1)).toEqual({
      role: 'user',
      content: [
        { type: 'file', file: { filename: 'q3.pdf', file_data: `data:application/pdf;base64,${pdf}` } },
      ],
    });
  });
});
