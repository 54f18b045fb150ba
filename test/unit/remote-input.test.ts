import { describe, expect, it } from 'vitest';
import {
  geminiImageTokens,
  IMAGE_TOKENS,
  imagesTokens,
  imageTokens,
  mediaWeight,
  weighsBeyondBytes,
} from '../../src/limits/remote-input.js';

const PIXEL = 'data:image/png;base64,iVBORw0KGgo=';
const GEMINI_FILES = 'https://generativelanguage.googleapis.com/v1beta/';

/** The base64 of a PNG's signature, header and first data chunk: enough for its size to be read. */
function pngHeader(width: number, height: number): string {
  const ihdr = Buffer.alloc(25);
  ihdr.writeUInt32BE(13, 0);
  ihdr.write('IHDR', 4, 'latin1');
  ihdr.writeUInt32BE(width, 8);
  ihdr.writeUInt32BE(height, 12);
  ihdr.writeUInt8(8, 16);
  const idat = Buffer.from([0, 0, 0, 0, 0x49, 0x44, 0x41, 0x54, 0, 0, 0, 0]);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ihdr, idat]).toString(
    'base64',
  );
}

describe('input named by address or id', () => {
  it.each([
    [
      'an OpenAI image by URL',
      { messages: [{ content: [{ type: 'image_url', image_url: { url: 'https://x.test/a.png' } }] }] },
    ],
    [
      'an OpenAI uploaded file',
      { messages: [{ content: [{ type: 'file', file: { file_id: 'file-abc' } }] }] },
    ],
    [
      'an Anthropic PDF by URL',
      {
        messages: [{ content: [{ type: 'document', source: { type: 'url', url: 'https://x.test/a.pdf' } }] }],
      },
    ],
    ['Anthropic MCP servers', { mcp_servers: [{ type: 'url', name: 'x', url: 'https://mcp.test' }] }],
    ['a Gemini video by URI', { contents: [{ parts: [{ fileData: { fileUri: 'https://youtu.be/x' } }] }] }],
    [
      'a Gemini upload by its bare name',
      { contents: [{ parts: [{ fileData: { fileUri: 'files/abc', mimeType: 'video/mp4' } }] }] },
    ],
    ['a Gemini cache', { contents: [], cachedContent: 'cachedContents/abc' }],
    [
      'a Responses image by URL',
      { input: [{ content: [{ type: 'input_image', image_url: 'https://x.test/a.png' }] }] },
    ],
    [
      'a Responses file by URL',
      { input: [{ content: [{ type: 'input_file', file_url: 'https://x.test/a.pdf' }] }] },
    ],
  ])('finds %s', (_name, body) => {
    expect(weighsBeyondBytes(body)).toBe(true);
  });

  it.each([
    [
      'a URL in text',
      { messages: [{ role: 'user', content: 'Read https://x.test/a.pdf and url: https://y.test' }] },
    ],
    [
      'a null file id',
      {
        input: [
          { content: [{ type: 'input_file', file_data: 'data:text/plain;base64,aGk=', file_id: null }] },
        ],
      },
    ],
    ['no MCP servers', { mcp_servers: [] }],
  ])('ignores %s', (_name, body) => {
    expect(weighsBeyondBytes(body)).toBe(false);
  });
});

describe('media carried inline', () => {
  const PDF = 'JVBERi0xLjQK';
  it.each([
    [
      'an Anthropic PDF',
      {
        messages: [
          {
            content: [
              { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: PDF } },
            ],
          },
        ],
      },
    ],
    [
      'an OpenAI chat file',
      {
        messages: [
          { content: [{ type: 'file', file: { file_data: `data:application/pdf;base64,${PDF}` } }] },
        ],
      },
    ],
    [
      'OpenAI chat audio',
      {
        messages: [{ content: [{ type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } }] }],
      },
    ],
    [
      'a Responses file',
      { input: [{ content: [{ type: 'input_file', file_data: `data:application/pdf;base64,${PDF}` }] }] },
    ],
    ['a file of bare base64', { input: [{ content: [{ type: 'input_file', file_data: PDF }] }] }],
    ['a Gemini video', { contents: [{ parts: [{ inlineData: { mimeType: 'video/mp4', data: 'AAAA' } }] }] }],
    ['Gemini data of no type', { contents: [{ parts: [{ inlineData: { data: 'AAAA' } }] }] }],
  ])('weighs %s as unbounded', (_name, body) => {
    expect(weighsBeyondBytes(body)).toBe(true);
    expect(mediaWeight([body])).toMatchObject({ unbounded: true, imageData: [] });
  });

  it.each([
    [
      'an OpenAI chat image',
      { messages: [{ content: [{ type: 'image_url', image_url: { url: PIXEL } }] }] },
      PIXEL,
    ],
    ['a Responses image', { input: [{ content: [{ type: 'input_image', image_url: PIXEL }] }] }, PIXEL],
    [
      'an Anthropic image',
      {
        messages: [
          { content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBO' } }] },
        ],
      },
      'iVBO',
    ],
    [
      'a Gemini image',
      { contents: [{ parts: [{ inlineData: { mimeType: 'image/jpeg', data: '/9j/' } }] }] },
      '/9j/',
    ],
  ])('counts %s as one image, whose data it weighs apart from text', (_name, body, data) => {
    expect(weighsBeyondBytes(body)).toBe(true);
    const base64 = data.slice(data.indexOf(',') + 1);
    expect(mediaWeight([body, body])).toEqual({
      unbounded: false,
      audio: false,
      imageData: [base64, base64],
      imageBytes: 2 * data.length,
    });
  });

  it("counts an image by its provider's type: OpenAI's models by name, Anthropic's, Azure at OpenAI's most, others unbounded", () => {
    for (const model of ['gpt-4o-mini', 'gpt-4o-mini-2024-07-18', 'ft:gpt-4o-mini-2024-07-18:acme::x'])
      expect(imageTokens('openai', model)).toBe(48_169);
    for (const model of ['gpt-4o', 'ft:gpt-4o-2024-08-06:acme::abc123', 'o4-mini', 'gpt-4.1-nano'])
      expect(imageTokens('openai', model)).toBe(IMAGE_TOKENS);
    expect(imageTokens('anthropic', 'claude-opus-4')).toBe(IMAGE_TOKENS);
    expect(IMAGE_TOKENS).toBe(4_784);
    // A deployment's name need not say which model it is.
    expect(imageTokens('azure-openai', 'gpt4o-prod')).toBe(48_169);
    // Counted their own way, whatever the name (a Llama served as o1-custom): the window.
    for (const [type, model] of [
      ['openai-compatible', 'o1-custom'],
      ['openai-compatible', 'meta-llama/Llama-3.2-90B-Vision'],
      ['ollama', 'llava'],
    ] as const)
      expect(imageTokens(type, model)).toBe(Number.POSITIVE_INFINITY);
  });

  it("counts an image at Gemini by its size, read from the image's header", () => {
    const photo = pngHeader(4_000, 3_000);
    const media = mediaWeight([
      { contents: [{ parts: [{ inlineData: { mimeType: 'image/png', data: photo } }] }] },
      {
        messages: [
          { content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${photo}` } }] },
        ],
      },
    ]);
    // 6 × 4 tiles of 258 tokens, twice; elsewhere the type's figure for each.
    expect(imagesTokens(media, 'gemini', 'gemini-2.5-pro')).toBe(2 * 6_192);
    expect(imagesTokens(media, 'anthropic', 'claude-opus-4')).toBe(2 * IMAGE_TOKENS);
    expect(imagesTokens(media, 'ollama', 'llava')).toBe(Number.POSITIVE_INFINITY);
    // A small image at least at Gemini 3's most (ultra high resolution, 2,240).
    expect(geminiImageTokens({ width: 300, height: 200 })).toBe(2_240);
    expect(geminiImageTokens({ width: 20_000, height: 20_000 })).toBe(27 * 27 * 258);
    // Data whose size the gateway cannot read is unbounded, with every other image.
    const unknown = mediaWeight([
      {
        contents: [
          {
            parts: [
              { inlineData: { mimeType: 'image/png', data: photo } },
              { inlineData: { mimeType: 'image/png', data: 'AAAA' } },
            ],
          },
        ],
      },
    ]);
    expect(imagesTokens(unknown, 'gemini', 'gemini-2.5-pro')).toBe(Number.POSITIVE_INFINITY);
    expect(imagesTokens(mediaWeight([{}]), 'gemini', 'gemini-2.5-pro')).toBe(0);
  });

  it.each([
    [
      'an Anthropic text document',
      {
        messages: [
          { content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'hi' } }] },
        ],
      },
    ],
    ['Gemini text', { contents: [{ parts: [{ inlineData: { mimeType: 'text/plain', data: 'aGk=' } }] }] }],
    [
      'a text file',
      { input: [{ content: [{ type: 'input_file', file_data: 'data:text/csv;base64,YSxi' }] }] },
    ],
    ['text that names audio', { messages: [{ role: 'user', content: 'input_audio file_data inlineData' }] }],
  ])('weighs %s by its bytes', (_name, body) => {
    expect(weighsBeyondBytes(body)).toBe(false);
    expect(mediaWeight([body])).toEqual({ unbounded: false, audio: false, imageData: [], imageBytes: 0 });
  });

  it('weighs input named by address as unbounded, in any of the values', () => {
    const remote = { input: [{ content: [{ type: 'input_file', file_url: 'https://x.test/a.pdf' }] }] };
    expect(mediaWeight([{ input: 'hi' }, remote]).unbounded).toBe(true);
  });

  it('weighs audio, video, media of no type and input named by address as possibly audio, a PDF not', () => {
    const gemini = (inlineData: object) => ({ contents: [{ parts: [{ inlineData }] }] });
    const pdf = gemini({ mimeType: 'application/pdf', data: PDF });
    // Audio after a PDF is still found.
    for (const body of [
      gemini({ mimeType: 'audio/wav', data: 'UklGRg==' }),
      gemini({ mimeType: 'VIDEO/mp4', data: 'AAAA' }),
      gemini({ data: 'AAAA' }),
      {
        messages: [{ content: [{ type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } }] }],
      },
      { input: [{ content: [{ type: 'input_file', file_data: 'data:audio/mpeg;base64,AAAA' }] }] },
      { contents: [{ parts: [{ fileData: { fileUri: 'files/abc' } }] }] },
    ])
      expect(mediaWeight([pdf, body])).toMatchObject({ unbounded: true, audio: true });
    expect(mediaWeight([pdf])).toMatchObject({ unbounded: true, audio: false });
  });

  it('weighs an image or a PDF named by address, or a typed upload, as no audio', () => {
    for (const body of [
      { messages: [{ content: [{ type: 'image_url', image_url: { url: 'https://x.test/a.png' } }] }] },
      { input: [{ content: [{ type: 'input_image', image_url: 'https://x.test/a.png' }] }] },
      {
        messages: [{ content: [{ type: 'document', source: { type: 'url', url: 'https://x.test/a.pdf' } }] }],
      },
      {
        contents: [
          { parts: [{ fileData: { fileUri: 'https://x.test/a.pdf', mimeType: 'application/pdf' } }] },
        ],
      },
      { contents: [{ parts: [{ fileData: { fileUri: 'files/abc', mimeType: 'image/png' } }] }] },
    ])
      expect(mediaWeight([body])).toMatchObject({ unbounded: true, audio: false });
    for (const body of [
      { contents: [{ parts: [{ fileData: { fileUri: 'files/abc', mimeType: 'audio/mpeg' } }] }] },
      { input: [{ content: [{ type: 'input_file', file_url: 'https://x.test/a.bin' }] }] },
      { messages: [{ content: [{ type: 'file', file: { file_id: 'file-abc' } }] }] },
      // A file Gemini holds reaches it untyped, whatever key names it: read as it was uploaded.
      { messages: [{ content: [{ type: 'image_url', image_url: { url: `${GEMINI_FILES}files/abc` } }] }] },
      { input: [{ content: [{ type: 'input_image', image_url: `${GEMINI_FILES}files/abc` }] }] },
      {
        messages: [
          { content: [{ type: 'document', source: { type: 'url', url: `${GEMINI_FILES}files/abc` } }] },
        ],
      },
    ])
      expect(mediaWeight([body])).toMatchObject({ unbounded: true, audio: true });
  });
});

describe('positions that are not content', () => {
  const schema = {
    type: 'object',
    properties: { input_audio: { type: 'string' }, inlineData: { type: 'string' } },
  };
  it.each([
    [
      'an OpenAI function tool',
      { tools: [{ type: 'function', function: { name: 'transcribe', parameters: schema } }] },
    ],
    [
      'an OpenAI response format',
      { response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } },
    ],
    ['a Responses text format', { text: { format: { type: 'json_schema', name: 'x', schema } } }],
    ['an Anthropic tool', { tools: [{ name: 'save_file', input_schema: schema }] }],
    ['an Anthropic output format', { output_config: { format: { type: 'json_schema', schema } } }],
    [
      'an Anthropic tool call',
      {
        messages: [
          {
            role: 'assistant',
            content: [{ type: 'tool_use', id: 't', name: 'save_file', input: { file_data: 'aGVsbG8=' } }],
          },
        ],
      },
    ],
    [
      'an OpenAI tool call',
      {
        messages: [
          {
            role: 'assistant',
            tool_calls: [{ type: 'function', function: { name: 'f', arguments: '{"file_data":"aGk="}' } }],
          },
        ],
      },
    ],
    [
      'a Gemini function call and declarations',
      {
        contents: [
          { role: 'model', parts: [{ functionCall: { name: 'f', args: { inlineData: { data: 'AAAA' } } } }] },
        ],
        tools: [{ functionDeclarations: [{ name: 'f', parameters: schema }] }],
        generationConfig: { responseSchema: schema },
      },
    ],
  ])('does not weigh %s as media', (_name, body) => {
    expect(weighsBeyondBytes(body)).toBe(false);
    expect(mediaWeight([body])).toEqual({ unbounded: false, audio: false, imageData: [], imageBytes: 0 });
  });

  it("still weighs a tool's result and a Responses request's input", () => {
    const result = {
      messages: [
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 't',
              content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBO' } }],
            },
          ],
        },
      ],
    };
    expect(mediaWeight([result])).toEqual({
      unbounded: false,
      audio: false,
      imageData: ['iVBO'],
      imageBytes: 4,
    });
    const input = { input: [{ role: 'user', content: [{ type: 'input_file', file_data: 'JVBERi0=' }] }] };
    expect(mediaWeight([input]).unbounded).toBe(true);
  });
});
