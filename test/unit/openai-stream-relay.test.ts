import { describe, expect, it } from 'vitest';
import type { ProviderType } from '../../src/config/index.js';
import { GatewayError } from '../../src/errors/gateway-error.js';
import type { Usage } from '../../src/providers/index.js';
import { readOpenAIUsage } from '../../src/providers/openai/index.js';
import { relayOpenAIStream } from '../../src/surfaces/openai/stream-relay.js';

/**
 * OpenAI sends `"usage":null` on every chunk but the last only to a client that asked for usage
 * (`stream_options.include_usage`); one that did not gets chunks without the field, and no
 * usage-only chunk. The gateway asks on every client's behalf, so the relay leaves both out for
 * a client that did not ask.
 */

const HEAD = '"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini"';
const USAGE = '{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}';

async function relay(events: string[], hideUsageChunk: boolean, providerType: ProviderType = 'openai') {
  const usages: Usage[] = [];
  async function* body() {
    for (const event of events) yield new TextEncoder().encode(event);
  }
  let out = '';
  for await (const piece of relayOpenAIStream(body(), {
    providerType,
    readUsage: readOpenAIUsage,
    hideUsageChunk,
    onUsage: (usage) => usages.push(usage),
    onFailure: () => {},
    failureError: () => new GatewayError(502, 'upstream_error', 'failed'),
    clientGone: () => false,
  }))
    out += piece;
  return { out, usages };
}

const chunk = (choices: string, extra = ',"usage":null') =>
  `data: {${HEAD},"choices":[${choices}]${extra}}\n\n`;
const text = (content: string, finish = 'null') =>
  `{"index":0,"delta":{"content":"${content}"},"logprobs":null,"finish_reason":${finish}}`;

describe('an OpenAI stream relayed to a client that did not ask for usage', () => {
  it('carries no usage field and no usage chunk, as OpenAI sends it unasked; the gateway still reads the usage', async () => {
    const events = [
      chunk(text('Hi'), ',"usage":null,"obfuscation":"ab"'),
      chunk(text(' there', '"stop"')),
      chunk('', `,"usage":${USAGE}`),
      'data: [DONE]\n\n',
    ];
    const hidden = await relay(events, true);
    expect(hidden.out).toBe(
      `${chunk(text('Hi'), ',"obfuscation":"ab"')}${chunk(text(' there', '"stop"'), '')}data: [DONE]\n\n`,
    );
    expect(hidden.usages).toEqual([{ inputTokens: 9, outputTokens: 3 }]);
    // A client that asked gets every byte as OpenAI sent it.
    const shown = await relay(events, false);
    expect(shown.out).toBe(events.join(''));
  });

  it('leaves the field out wherever it stands, however spaced, and text that only names it', async () => {
    const first = `data: {"usage": null, ${HEAD},"choices":[${text('\\"usage\\":null')}]}\n\n`;
    const spaced = `data: {${HEAD}, "choices": [${text('a')}], "usage" : null}\n\n`;
    const { out } = await relay([first, spaced, 'data: [DONE]\n\n'], true);
    expect(out).toBe(
      `data: {${HEAD},"choices":[${text('\\"usage\\":null')}]}\n\n` +
        `data: {${HEAD}, "choices": [${text('a')}]}\n\n` +
        'data: [DONE]\n\n',
    );
  });

  it('cuts it within a data line only: a chunk whose JSON spans several lines stays JSON', async () => {
    const first = `data: {${HEAD},\ndata: "usage": null,\ndata: "choices":[${text('Hi')}]}\n\n`;
    const last = `data: {${HEAD},"choices":[${text('!', '"stop"')}]\ndata: ,"usage":null}\n\n`;
    // A field on a line of its own, its comma on the line before: left as sent.
    const apart = `data: {${HEAD},"choices":[${text('a')}],\ndata: "usage":null}\n\n`;
    const { out } = await relay([first, apart, last, 'data: [DONE]\n\n'], true);
    expect(out).toBe(
      `data: {${HEAD},\ndata: \ndata: "choices":[${text('Hi')}]}\n\n` +
        apart +
        `data: {${HEAD},"choices":[${text('!', '"stop"')}]\ndata: }\n\n` +
        'data: [DONE]\n\n',
    );
  });

  it('leaves it out of the chunks the relay rewrites (Azure filter annotations, renumbered tool calls)', async () => {
    const filtered = chunk(
      `{"index":0,"delta":{"content":"Hi"},"finish_reason":null,"content_filter_results":{"hate":{"filtered":false}}}`,
    );
    const azure = await relay([filtered, 'data: [DONE]\n\n'], true, 'azure-openai');
    expect(azure.out).toBe(
      `data: {${HEAD},"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\ndata: [DONE]\n\n`,
    );
    const call = chunk(
      `{"index":0,"delta":{"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}`,
    );
    const compat = await relay([call], true, 'openai-compatible');
    expect(compat.out).toBe(
      `data: {${HEAD},"choices":[{"index":0,"delta":{"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"},"index":0}]},"finish_reason":"tool_calls"}]}\n\ndata: [DONE]\n\n`,
    );
  });
});
