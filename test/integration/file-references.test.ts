import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORMATS, type Format, type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { CLIENT_KEY } from '../support/setup.js';
import { GREETING } from '../support/weather-scripts.js';

/**
 * A file reference is read only by the provider format that issued it: an Anthropic file id, an
 * OpenAI file id and a Gemini Files URI name an upload in that provider's account, which any other
 * refuses with an opaque 400 of its own. The gateway refuses them for another format, naming the
 * client's field; a web address in Gemini's `fileData` is a URL, which providers that fetch URLs
 * are sent as one. Every provider format sits behind one gateway; the fakes record what reached them.
 */

const MODELS: Record<Format, string> = {
  openai: 'openai/gpt-4o-mini',
  anthropic: 'anthropic/claude-sonnet-4-5',
  gemini: 'gemini/gemini-2.5-flash',
  ollama: 'ollama/llama3.2',
};
const FILES_URI = 'https://generativelanguage.googleapis.com/v1beta/files/abc123';
const ANTHROPIC_FILE = 'file_011CNha8iCJcU1wXNR6q4V8w';
const OPENAI_FILE = 'file-6F2ksmvXxt4VdoqmHRw6kL';

let setup: FormatGateway;
let openai: OpenAI;
let anthropic: Anthropic;
let genai: GoogleGenAI;

beforeAll(async () => {
  // Anthropic file ids name uploads in the provider account: the operator allows them.
  setup = await startFormatGateway({}, { anthropic: { allowedFeatures: ['files'] } });
  for (const format of FORMATS) setup.fakes[format].script(GREETING);
  openai = new OpenAI({ baseURL: `${setup.kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  anthropic = new Anthropic({ baseURL: setup.kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
  genai = new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: setup.kw.dataUrl } });
});
afterAll(() => setup?.close());

/** The last body the fake of `format` received. */
const sent = (format: Format) =>
  setup.fakes[format].requests.at(-1)?.body as { messages: unknown[]; contents: unknown[] };

/** The error a call is refused with; a call that succeeds fails the test. */
const refusedWith = <E>(call: Promise<unknown>): Promise<E> =>
  call.then(
    () => {
      throw new Error('the call was not refused');
    },
    (error: unknown) => error as E,
  );

/** `call` refused by the gateway: nothing reached the provider of `format`. */
async function refusedBefore<E>(format: Format, call: () => Promise<unknown>): Promise<E> {
  const before = setup.fakes[format].requests.length;
  const refused = await refusedWith<E>(call());
  expect(setup.fakes[format].requests.length).toBe(before);
  return refused;
}

describe('on the Gemini surface', () => {
  const parts = (fileUri: string, mimeType: string) => [
    { text: 'Look:' },
    { fileData: { fileUri, mimeType } },
  ];
  const ask = (format: Format, fileUri: string, mimeType: string) =>
    genai.models.generateContent({
      model: MODELS[format],
      contents: [{ role: 'user', parts: parts(fileUri, mimeType) }],
    });

  /** Google's error envelope for a request the gateway refused, read over plain HTTP. */
  async function refusal(format: Format, fileUri: string, mimeType: string) {
    const before = setup.fakes[format].requests.length;
    const res = await request(`${setup.kw.dataUrl}/v1beta/models/${MODELS[format]}:generateContent`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-goog-api-key': CLIENT_KEY },
      body: JSON.stringify({ contents: [{ role: 'user', parts: parts(fileUri, mimeType) }] }),
    });
    const { error } = (await res.body.json()) as {
      error: { code: number; message: string; details: Array<Record<string, unknown>> };
    };
    expect(setup.fakes[format].requests.length).toBe(before);
    const violations = error.details.find((detail) => detail.fieldViolations) as {
      fieldViolations: Array<{ field: string }>;
    };
    return { status: res.statusCode, error, field: violations.fieldViolations[0]!.field };
  }

  it('a web address is a URL: Anthropic fetches images and PDFs, OpenAI images', async () => {
    await ask('anthropic', 'https://example.com/cat.png', 'image/png');
    expect(sent('anthropic').messages[0]).toMatchObject({
      content: [
        { type: 'text', text: 'Look:' },
        { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
      ],
    });
    await ask('anthropic', 'https://example.com/report.pdf', 'application/pdf');
    expect(sent('anthropic').messages[0]).toMatchObject({
      content: [
        { type: 'text' },
        { type: 'document', source: { type: 'url', url: 'https://example.com/report.pdf' } },
      ],
    });
    await ask('openai', 'https://example.com/cat.png', 'image/png');
    expect(sent('openai').messages[0]).toMatchObject({
      content: [{ type: 'text' }, { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }],
    });

    const pdf = await refusal('openai', 'https://example.com/report.pdf', 'application/pdf');
    expect(pdf.status).toBe(400);
    expect(pdf.error.message).toContain('OpenAI-format providers need document data inline');
    expect(pdf.field).toBe('contents[0].parts[1]');
  });

  it('a web address reaches Gemini with its type on a translated route: Gemini fetches it', async () => {
    for (const [uri, type] of [
      ['https://example.com/report.pdf', 'application/pdf'],
      ['https://example.com/cat.png', 'image/png'],
    ] as const) {
      // A conversation translates even a Gemini client's request to a Gemini model.
      const conversation = await openai.conversations.create();
      const inConversation = new GoogleGenAI({
        apiKey: CLIENT_KEY,
        httpOptions: { baseUrl: setup.kw.dataUrl, headers: { 'x-keyward-conversation': conversation.id } },
      });
      await inConversation.models.generateContent({
        model: MODELS.gemini,
        contents: [{ role: 'user', parts: parts(uri, type) }],
      });
      expect(sent('gemini').contents.at(-1)).toEqual({
        role: 'user',
        parts: [{ text: 'Look:' }, { fileData: { fileUri: uri, mimeType: type } }],
      });
    }
  });

  it('a Gemini Files URI reaches Gemini as sent, and is refused for other formats at its part', async () => {
    await ask('gemini', FILES_URI, 'application/pdf');
    expect(sent('gemini').contents).toEqual([
      {
        role: 'user',
        parts: [{ text: 'Look:' }, { fileData: { fileUri: FILES_URI, mimeType: 'application/pdf' } }],
      },
    ]);
    for (const format of ['anthropic', 'openai'] as const) {
      for (const [uri, type] of [
        [FILES_URI, 'application/pdf'],
        [FILES_URI, 'image/png'],
        ['gs://bucket/cat.png', 'image/png'],
      ] as const) {
        const refused = await refusal(format, uri, type);
        expect(refused.status).toBe(400);
        // Chat Completions takes no image by reference at all, and says so.
        const words =
          format === 'openai' && type === 'image/png' ? 'not a file reference' : 'only Gemini reads';
        expect(refused.error.message).toContain(words);
        expect(refused.field).toBe('contents[0].parts[1]');
      }
    }
  });
});

describe('on the Anthropic surface', () => {
  type ApiError = InstanceType<typeof Anthropic.APIError>;
  const withFile = (format: Format, block: Anthropic.Beta.BetaContentBlockParam) =>
    anthropic.beta.messages.create({
      model: MODELS[format],
      max_tokens: 100,
      messages: [
        { role: 'user', content: 'first' },
        { role: 'assistant', content: 'ok' },
        { role: 'user', content: [{ type: 'text', text: 'Read:' }, block] },
      ],
    });
  const document = { type: 'document', source: { type: 'file', file_id: ANTHROPIC_FILE } } as const;

  it('an Anthropic file id reaches Anthropic as sent, and is refused for other formats at its block', async () => {
    await withFile('anthropic', document);
    expect(sent('anthropic').messages[2]).toMatchObject({ content: [{ type: 'text' }, document] });
    for (const format of ['openai', 'gemini'] as const) {
      const refused = await refusedBefore<ApiError>(format, () => withFile(format, document));
      expect(refused.status).toBe(400);
      expect(refused.error).toEqual({
        type: 'error',
        error: {
          type: 'invalid_request_error',
          message: expect.stringMatching(/^messages\.2\.content\.1: .*a file reference only Anthropic reads/),
        },
      });
    }
  });

  it('a wrapped file id goes back to its issuer, on a translated route', async () => {
    const openaiFile = {
      type: 'document',
      source: { type: 'file', file_id: `kwf1.openai.${OPENAI_FILE}` },
    } as const;
    await withFile('openai', openaiFile);
    expect(sent('openai').messages.at(-1)).toMatchObject({
      content: [{ type: 'text' }, { type: 'file', file: { file_id: OPENAI_FILE } }],
    });
    const refused = await refusedBefore<ApiError>('gemini', () => withFile('gemini', openaiFile));
    expect(refused.status).toBe(400);
    expect(refused.message).toContain('a file reference only OpenAI reads');
  });
});

describe('in a Keyward conversation', () => {
  it("keeps a Messages client's file id Anthropic's: the next turn sends it again, OpenAI is refused it", async () => {
    const conversation = await openai.conversations.create();
    const turn = (format: Format, content: Anthropic.MessageParam['content']) =>
      anthropic.messages.create(
        { model: MODELS[format], max_tokens: 100, messages: [{ role: 'user', content }] },
        { headers: { 'x-keyward-conversation': conversation.id } },
      );
    const document = { type: 'document', source: { type: 'file', file_id: ANTHROPIC_FILE } } as const;
    await turn('anthropic', [{ type: 'text', text: 'Read:' }, document]);
    await turn('anthropic', 'And now?');
    expect(sent('anthropic').messages[0]).toMatchObject({ content: [{ type: 'text' }, document] });

    // The stored item shows whose file it is, as another format's signature is shown.
    const items = await openai.conversations.items.list(conversation.id, { order: 'asc' });
    expect(items.data[0]).toMatchObject({
      content: [{ type: 'input_text' }, { type: 'input_file', file_id: `kwf1.anthropic.${ANTHROPIC_FILE}` }],
    });
    type ApiError = InstanceType<typeof Anthropic.APIError>;
    const refused = await refusedBefore<ApiError>('openai', () => turn('openai', 'And on OpenAI?'));
    expect(refused.status).toBe(400);
    expect(refused.message).toContain('a file reference only Anthropic reads');
  });

  it('reads a file id stored unwrapped, as builds before the issuer was kept stored it, by its shape', async () => {
    // A conversation written with bare ids, as such a build wrote a Messages or Gemini client's turn.
    const stored = (content: OpenAI.Responses.ResponseInputMessageContentList) =>
      openai.conversations.create({
        items: [
          { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Read:' }, ...content] },
          { type: 'message', role: 'assistant', content: 'Read.' },
        ],
      });
    const anthropicFiles = await stored([
      { type: 'input_file', file_id: ANTHROPIC_FILE },
      { type: 'input_image', file_id: ANTHROPIC_FILE, detail: 'auto' },
    ]);
    await anthropic.messages.create(
      { model: MODELS.anthropic, max_tokens: 100, messages: [{ role: 'user', content: 'And now?' }] },
      { headers: { 'x-keyward-conversation': anthropicFiles.id } },
    );
    expect(sent('anthropic').messages[0]).toMatchObject({
      content: [
        { type: 'text' },
        { type: 'document', source: { type: 'file', file_id: ANTHROPIC_FILE } },
        { type: 'image', source: { type: 'file', file_id: ANTHROPIC_FILE } },
      ],
    });

    const geminiFile = await stored([{ type: 'input_file', file_id: FILES_URI }]);
    const gemini = new GoogleGenAI({
      apiKey: CLIENT_KEY,
      httpOptions: { baseUrl: setup.kw.dataUrl, headers: { 'x-keyward-conversation': geminiFile.id } },
    });
    await gemini.models.generateContent({ model: MODELS.gemini, contents: 'And now?' });
    expect(sent('gemini').contents[0]).toEqual({
      role: 'user',
      parts: [{ text: 'Read:' }, { fileData: { fileUri: FILES_URI } }],
    });

    // OpenAI's own, an id of no telling shape, and the lower-case ULID some OpenAI-compatible
    // servers name files by, stay OpenAI's: the Responses format's own.
    for (const fileId of [OPENAI_FILE, 'upload-42', 'file_01jh6xa97be52b7pg88czwrrwb']) {
      const openaiFile = await stored([{ type: 'input_file', file_id: fileId }]);
      await openai.responses.create({ model: MODELS.openai, conversation: openaiFile.id, input: 'And now?' });
      expect(sent('openai').messages[0]).toMatchObject({
        content: [{ type: 'text' }, { type: 'file', file: { file_id: fileId } }],
      });
    }
  });
});

describe('on the OpenAI surfaces', () => {
  type ApiError = InstanceType<typeof OpenAI.APIError>;
  const chat = (format: Format) =>
    openai.chat.completions.create({
      model: MODELS[format],
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Read:' },
            { type: 'file', file: { file_id: OPENAI_FILE } },
          ],
        },
      ],
    });
  const responses = (format: Format) =>
    openai.responses.create({
      model: MODELS[format],
      store: false,
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'Read:' },
            { type: 'input_file', file_id: OPENAI_FILE },
          ],
        },
      ],
    });

  it('an OpenAI file id reaches OpenAI as a file part', async () => {
    for (const call of [chat, responses]) {
      await call('openai');
      expect(sent('openai').messages.at(-1)).toMatchObject({
        content: [{ type: 'text' }, { type: 'file', file: { file_id: OPENAI_FILE } }],
      });
    }
  });

  it("a wrapped file id, as a listed conversation item shows another format's, goes back to its issuer", async () => {
    const wrapped = (format: Format) =>
      openai.chat.completions.create({
        model: MODELS[format],
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Read:' },
              { type: 'file', file: { file_id: `kwf1.anthropic.${ANTHROPIC_FILE}` } },
            ],
          },
        ],
      });
    await wrapped('anthropic');
    expect(sent('anthropic').messages[0]).toMatchObject({
      content: [{ type: 'text' }, { type: 'document', source: { type: 'file', file_id: ANTHROPIC_FILE } }],
    });
    const refused = await refusedBefore<ApiError>('gemini', () => wrapped('gemini'));
    expect(refused.status).toBe(400);
    expect(refused.param).toBe('messages[0].content[1]');
    expect(refused.message).toContain('a file reference only Anthropic reads');
  });

  it.each([
    ['Chat Completions', chat, 'messages[1].content[1]'],
    ['Responses', responses, 'input[0].content[1]'],
  ] as const)('on %s, is refused for other formats at its part', async (_, call, param) => {
    for (const format of ['anthropic', 'gemini'] as const) {
      const refused = await refusedBefore<ApiError>(format, () => call(format));
      expect(refused.status).toBe(400);
      expect(refused.code).toBe('unsupported_for_provider');
      expect(refused.param).toBe(param);
      expect(refused.message).toContain('a file reference only OpenAI reads');
    }
  });
});
