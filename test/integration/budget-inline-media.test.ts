import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { PROVIDER_KEY } from '../support/setup.js';

/**
 * A budget reserved inline input by its bytes, at a token a byte. A provider counts a PDF by its
 * pages, audio and video by their seconds, an image by its size in pixels: a valid 100-page PDF of
 * 7 KB is about 200,000 input tokens at Anthropic, and five such requests at once spent 18 times a
 * $0.10 budget. Such media is now reserved at the context window, as input named by URL is; an
 * inline image at the most tokens one image counts at the model (48,169 at gpt-4o-mini, 4,784
 * elsewhere, at Gemini by its size), in place of its bytes.
 */

/** $1 a million input tokens: the 200,000-token context window costs $0.20. */
const PRICE = { input: 1, output: 2 };
const MAX_TOKENS = 100;
/** A short answer to a short question: what a fake bills unless a test says otherwise. */
const SHORT: Script = {
  blocks: [{ type: 'text', text: 'Seen.' }],
  stop: 'end',
  usage: { input: 20, output: 5 },
};

/** A valid PDF of `pages` empty pages: a few dozen bytes a page, each counted as hundreds of tokens. */
function emptyPagesPdf(pages: number): Buffer {
  const objects = [
    '<</Type/Catalog/Pages 2 0 R>>',
    `<</Type/Pages/Count ${pages}/Kids[${Array.from({ length: pages }, (_, i) => `${i + 3} 0 R`).join(' ')}]/MediaBox[0 0 612 792]>>`,
    ...Array.from({ length: pages }, () => '<</Type/Page/Parent 2 0 R>>'),
  ];
  let out = '%PDF-1.4\n';
  const offsets = objects.map((object, i) => {
    const at = out.length;
    out += `${i + 1} 0 obj${object}endobj\n`;
    return at;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const at of offsets) out += `${String(at).padStart(10, '0')} 00000 n \n`;
  out += `trailer<</Size ${objects.length + 1}/Root 1 0 R>>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

const PDF = emptyPagesPdf(100).toString('base64');
/** A 1×1 PNG: 70 bytes, counted as one image. */
const PIXEL =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
/**
 * A PNG of `width` × `height` pixels as its header says, padded with `bytes` of data: what a
 * budget reads of an image is its header, not its pixels.
 */
function pngOf(width: number, height: number, bytes: number): string {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    return Buffer.concat([length, Buffer.from(type, 'latin1'), data, Buffer.alloc(4)]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.writeUInt8(8, 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', Buffer.alloc(bytes, 7)),
  ]).toString('base64');
}
/** The first bytes of a WAV file: what the provider counts is its seconds, not these. */
const WAV = Buffer.from('RIFF$\u0000\u0000\u0000WAVEfmt ', 'latin1').toString('base64');

/** The SDK's answer to `sent`: 200, or the status and message of the error it threw. */
async function outcome(sent: Promise<unknown>): Promise<{ status: number | undefined; message: string }> {
  try {
    await sent;
    return { status: 200, message: '' };
  } catch (error) {
    return { status: (error as { status?: number }).status, message: String((error as Error).message) };
  }
}

describe('a budget under media carried inline', () => {
  let claude: FakeProvider;
  let openai: FakeProvider;
  let gemini: FakeProvider;
  let kw: TestGateway;

  beforeAll(async () => {
    claude = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    openai = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    gemini = await startFakeProvider('gemini', { keys: [PROVIDER_KEY] });
    const keys = { env: 'PROVIDER_KEY' };
    kw = await startTestGateway(
      {
        providers: [
          { id: 'claude', type: 'anthropic', baseUrl: claude.baseUrl, keys },
          { id: 'openai', type: 'openai', baseUrl: openai.baseUrl, keys },
          { id: 'gemini', type: 'gemini', baseUrl: gemini.baseUrl, keys },
        ],
        models: [
          { name: 'claude', provider: 'claude', model: 'claude-media-model' },
          { name: 'gpt', provider: 'openai', model: 'gpt-media-model' },
          { name: 'gemini', provider: 'gemini', model: 'media-model' },
          { name: 'mini', provider: 'openai', model: 'gpt-4o-mini' },
        ],
        pricing: {
          'media-model': PRICE,
          'claude-media-model': PRICE,
          'gpt-media-model': PRICE,
          'gpt-4o-mini': PRICE,
        },
      },
      { PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  beforeEach(() => {
    for (const fake of [claude, openai, gemini]) fake.script(SHORT);
  });
  afterAll(async () => {
    await kw?.close();
    await claude?.close();
    await openai?.close();
    await gemini?.close();
  });

  const mint = async (usd: number) => {
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: `inline-media-${usd}`,
      budget: { usd, period: 'day' },
    });
    expect(minted.status).toBe(201);
    return minted.json as { id: string; token: string };
  };
  const clients = (token: string) => ({
    anthropic: new Anthropic({ baseURL: kw.dataUrl, apiKey: token, maxRetries: 0 }),
    openai: new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: token, maxRetries: 0 }),
    gemini: new GoogleGenAI({ apiKey: token, httpOptions: { baseUrl: kw.dataUrl } }),
  });
  const calls = () => claude.requests.length + openai.requests.length + gemini.requests.length;

  it('reserves an inline PDF, audio or video at the context window on every surface', async () => {
    // $0.10 is more than any of these bodies' bytes cost, and less than the window's $0.20.
    const { anthropic, openai: oai, gemini: ai } = clients((await mint(0.1)).token);
    const sends: Array<[string, () => Promise<unknown>]> = [
      [
        'an Anthropic document',
        () =>
          anthropic.messages.create({
            model: 'claude',
            max_tokens: MAX_TOKENS,
            messages: [
              {
                role: 'user',
                content: [
                  { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: PDF } },
                  { type: 'text', text: 'Summarise this.' },
                ],
              },
            ],
          }),
      ],
      [
        'an OpenAI chat file',
        () =>
          oai.chat.completions.create({
            model: 'gpt',
            max_tokens: MAX_TOKENS,
            messages: [
              {
                role: 'user',
                content: [
                  {
                    type: 'file',
                    file: { filename: 'a.pdf', file_data: `data:application/pdf;base64,${PDF}` },
                  },
                  { type: 'text', text: 'Summarise this.' },
                ],
              },
            ],
          }),
      ],
      [
        'OpenAI chat audio',
        () =>
          oai.chat.completions.create({
            model: 'gpt',
            max_tokens: MAX_TOKENS,
            messages: [
              {
                role: 'user',
                content: [
                  { type: 'input_audio', input_audio: { data: WAV, format: 'wav' } },
                  { type: 'text', text: 'Transcribe this.' },
                ],
              },
            ],
          }),
      ],
      [
        'a Responses file',
        () =>
          oai.responses.create({
            model: 'claude',
            max_output_tokens: MAX_TOKENS,
            input: [
              {
                role: 'user',
                content: [
                  { type: 'input_file', filename: 'a.pdf', file_data: `data:application/pdf;base64,${PDF}` },
                  { type: 'input_text', text: 'Summarise this.' },
                ],
              },
            ],
          }),
      ],
      [
        'a Gemini PDF',
        () =>
          ai.models.generateContent({
            model: 'gemini',
            contents: [{ inlineData: { mimeType: 'application/pdf', data: PDF } }, 'Summarise this.'],
            config: { maxOutputTokens: MAX_TOKENS },
          }),
      ],
      [
        'a Gemini video',
        () =>
          ai.models.generateContent({
            model: 'gemini',
            contents: [{ inlineData: { mimeType: 'video/mp4', data: WAV } }, 'Describe this.'],
            config: { maxOutputTokens: MAX_TOKENS },
          }),
      ],
    ];
    const before = calls();
    for (const [name, send] of sends) {
      const { status, message } = await outcome(send());
      expect({ name, status }).toEqual({ name, status: 429 });
      expect(message).toMatch(/budget/);
    }
    expect(calls()).toBe(before);
  });

  it('admits at most the budget in inline PDFs sent at once', async () => {
    // The provider bills what it read: 200,000 tokens for the 100 pages, $0.20 a request.
    claude.script({
      blocks: [{ type: 'text', text: 'A summary.' }],
      stop: 'end',
      usage: { input: 200_000, output: 5 },
    });
    const budget = 0.5;
    const minted = await mint(budget);
    const { anthropic } = clients(minted.token);
    const send = async () =>
      (
        await outcome(
          anthropic.messages.create({
            model: 'claude',
            max_tokens: MAX_TOKENS,
            messages: [
              {
                role: 'user',
                content: [
                  { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: PDF } },
                  { type: 'text', text: 'Summarise this.' },
                ],
              },
            ],
          }),
        )
      ).status;
    const statuses = await Promise.all(Array.from({ length: 5 }, send));
    expect(statuses.every((status) => status === 200 || status === 429)).toBe(true);
    const passed = statuses.filter((status) => status === 200).length;
    const spent = async () =>
      (await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${minted.id}`)).json.rows[0];
    await expect.poll(async () => (await spent())?.requests).toBe(passed);
    expect((await spent()).costMicros).toBeLessThanOrEqual(budget * 1e6);
  });

  it('reserves inline text by its bytes', async () => {
    const { anthropic, gemini: ai } = clients((await mint(0.1)).token);
    const answer = await anthropic.messages.create({
      model: 'claude',
      max_tokens: MAX_TOKENS,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'A short note.' } },
            { type: 'text', text: 'Summarise this.' },
          ],
        },
      ],
    });
    expect(answer.type).toBe('message');
    const note = Buffer.from('A short note.').toString('base64');
    const gemAnswer = await ai.models.generateContent({
      model: 'gemini',
      contents: [{ inlineData: { mimeType: 'text/plain', data: note } }, 'Summarise this.'],
      config: { maxOutputTokens: MAX_TOKENS },
    });
    expect(gemAnswer.candidates).toHaveLength(1);
  });

  it('reserves each inline image at the most one image counts at the model, not at its bytes', async () => {
    // At $1 a million, an image reserves $0.048 at gpt-4o-mini: one fits a $0.10 budget, three do not.
    const { anthropic, openai: oai } = clients((await mint(0.1)).token);
    const image = { type: 'image_url' as const, image_url: { url: `data:image/png;base64,${PIXEL}` } };
    const one = await oai.chat.completions.create({
      model: 'mini',
      max_tokens: MAX_TOKENS,
      messages: [{ role: 'user', content: [image, { type: 'text', text: 'What is in this picture?' }] }],
    });
    expect(one.choices).toHaveLength(1);
    const before = calls();
    const content = [image, image, image, { type: 'text' as const, text: 'Compare these.' }];
    const three = await outcome(
      oai.chat.completions.create({
        model: 'mini',
        max_tokens: MAX_TOKENS,
        messages: [{ role: 'user', content }],
      }),
    );
    expect(three.status).toBe(429);
    expect(calls()).toBe(before);
    // Any other model counts an image at most 4,784 tokens ($0.005 here): three fit.
    const elsewhere = await oai.chat.completions.create({
      model: 'gpt',
      max_tokens: MAX_TOKENS,
      messages: [{ role: 'user', content }],
    });
    expect(elsewhere.choices).toHaveLength(1);
    const claudeOne = await anthropic.messages.create({
      model: 'claude',
      max_tokens: MAX_TOKENS,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PIXEL } },
            { type: 'text', text: 'What is in this picture?' },
          ],
        },
      ],
    });
    expect(claudeOne.type).toBe('message');
  });

  it("weighs an image's data by the image, not as text as well", async () => {
    // A 120 KB screenshot: at a token a byte it alone would reserve $0.12 of a $0.10 budget; counted
    // as the one image it is, 4,784 tokens, $0.005.
    const screenshot = Buffer.alloc(90_000, 7).toString('base64');
    const { anthropic, openai: oai, gemini: ai } = clients((await mint(0.1)).token);
    const answer = await anthropic.messages.create({
      model: 'claude',
      max_tokens: MAX_TOKENS,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: screenshot } },
            { type: 'text', text: 'What is on this screen?' },
          ],
        },
      ],
    });
    expect(answer.type).toBe('message');
    const chat = await oai.chat.completions.create({
      model: 'gpt',
      max_tokens: MAX_TOKENS,
      messages: [
        {
          role: 'user',
          content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${screenshot}` } }],
        },
      ],
    });
    expect(chat.choices).toHaveLength(1);
    // Gemini counts an image by its size, in tiles: data whose size cannot be read from its header
    // is reserved at the window, $0.20, more than the budget.
    const geminiImage = (data: string) =>
      ai.models.generateContent({
        model: 'gemini',
        contents: [{ inlineData: { mimeType: 'image/png', data } }, 'What is on this screen?'],
        config: { maxOutputTokens: MAX_TOKENS },
      });
    await expect(geminiImage(screenshot)).rejects.toMatchObject({ status: 429 });
    // A 1,920 × 1,080 screenshot: 6 tiles, at least Gemini 3's 2,240 tokens, $0.002.
    const seen = await geminiImage(pngOf(1_920, 1_080, 90_000));
    expect(seen.text).toBe('Seen.');
    // 20,000 pixels a side: 729 tiles, 188,082 tokens, $0.19.
    await expect(geminiImage(pngOf(20_000, 20_000, 90_000))).rejects.toMatchObject({ status: 429 });
    // The same through the OpenAI surface to the Gemini provider.
    const translated = await oai.chat.completions.create({
      model: 'gemini',
      max_tokens: MAX_TOKENS,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: `data:image/png;base64,${pngOf(1_920, 1_080, 90_000)}` } },
          ],
        },
      ],
    });
    expect(translated.choices).toHaveLength(1);
  });

  it('weighs tools, schemas and tool calls as text, whatever their keys are named', async () => {
    // Each names a key the media walk looks for; at the window they would reserve $0.20 of $0.10.
    const { anthropic, openai: oai } = clients((await mint(0.1)).token);
    const transcribe = await oai.chat.completions.create({
      model: 'gpt',
      max_tokens: MAX_TOKENS,
      messages: [{ role: 'user', content: 'Transcribe the last upload' }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'transcribe',
            parameters: { type: 'object', properties: { input_audio: { type: 'string' } } },
          },
        },
      ],
    });
    expect(transcribe.choices).toHaveLength(1);
    const structured = await oai.chat.completions.create({
      model: 'gpt',
      max_tokens: MAX_TOKENS,
      messages: [{ role: 'user', content: 'hi' }],
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'x',
          schema: { type: 'object', properties: { inlineData: { type: 'string' } } },
        },
      },
    });
    expect(structured.choices).toHaveLength(1);
    const saved = await anthropic.messages.create({
      model: 'claude',
      max_tokens: MAX_TOKENS,
      tools: [
        {
          name: 'save_file',
          input_schema: {
            type: 'object',
            properties: { path: { type: 'string' }, file_data: { type: 'string' } },
          },
        },
      ],
      messages: [
        { role: 'user', content: 'Save hello to a.txt' },
        {
          role: 'assistant',
          content: [
            {
              type: 'tool_use',
              id: 'toolu_1',
              name: 'save_file',
              input: { path: 'a.txt', file_data: 'aGVsbG8=' },
            },
          ],
        },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'saved' }] },
      ],
    });
    expect(saved.type).toBe('message');
  });

  it('says which part of a request is larger than the whole budget, in the names its client uses', async () => {
    const { anthropic, openai: oai } = clients((await mint(0.1)).token);
    const document = {
      type: 'document' as const,
      source: { type: 'base64' as const, media_type: 'application/pdf' as const, data: PDF },
    };
    const pdf = await outcome(
      anthropic.messages.create({
        model: 'claude',
        max_tokens: MAX_TOKENS,
        messages: [{ role: 'user', content: [document, { type: 'text', text: 'Summarise this.' }] }],
      }),
    );
    expect(pdf.status).toBe(429);
    expect(pdf.message).toMatch(
      /input \(inline media or content named by URL or file id, reserved at 200,000 tokens\)/,
    );
    expect(pdf.message).toMatch(/more than the whole daily budget/);
    expect(pdf.message).not.toMatch(/max_tokens/);
    const file = await outcome(
      oai.responses.create({
        model: 'claude',
        max_output_tokens: MAX_TOKENS,
        input: [
          {
            role: 'user',
            content: [
              { type: 'input_file', filename: 'a.pdf', file_data: `data:application/pdf;base64,${PDF}` },
            ],
          },
        ],
      }),
    );
    expect(file.status).toBe(429);
    expect(file.message).toMatch(/input \(inline media/);
    expect(file.message).not.toMatch(/max_(output_)?tokens/);
    // 60,000 output tokens at $2 a million, $0.12: the output limit is what is too large.
    const long = await outcome(
      oai.responses.create({ model: 'claude', max_output_tokens: 60_000, input: 'hi' }),
    );
    expect(long.status).toBe(429);
    expect(long.message).toMatch(/send a lower max_output_tokens/);
    expect(long.message).not.toMatch(/max_tokens/);
    const longMessages = await outcome(
      anthropic.messages.create(
        { model: 'claude', max_tokens: 60_000, messages: [{ role: 'user', content: 'hi' }] },
        { timeout: 60_000 },
      ),
    );
    expect(longMessages.message).toMatch(/send a lower max_tokens/);
  });
});
