import { describe, expect, it } from 'vitest';
import { namesRemoteInput } from '../../src/limits/remote-input.js';

const PIXEL = 'data:image/png;base64,iVBORw0KGgo=';

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
    expect(namesRemoteInput(body)).toBe(true);
  });

  it.each([
    ['inline images', { messages: [{ content: [{ type: 'image_url', image_url: { url: PIXEL } }] }] }],
    [
      'a URL in text',
      { messages: [{ role: 'user', content: 'Read https://x.test/a.pdf and url: https://y.test' }] },
    ],
    ['a null file id', { input: [{ content: [{ type: 'input_image', image_url: PIXEL, file_id: null }] }] }],
    ['no MCP servers', { mcp_servers: [] }],
  ])('ignores %s', (_name, body) => {
    expect(namesRemoteInput(body)).toBe(false);
  });
});
