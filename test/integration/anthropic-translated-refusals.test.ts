import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Format, type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * What `/v1/messages` refuses, as the official SDK shows it: a request another provider cannot
 * carry names the client's own field in front of its words (Anthropic's envelope has no `param`),
 * and the refusals of a body in the wrong shape say what goes where. Every provider format sits
 * behind one gateway, the fakes record what reached them.
 */

type ApiError = InstanceType<typeof Anthropic.APIError>;
type Body = Anthropic.Beta.MessageCreateParamsNonStreaming;

const TRANSLATED = ['openai', 'gemini', 'ollama'] as const;
const MODELS: Record<Format, string> = {
  openai: 'openai/gpt-4o-mini',
  anthropic: 'anthropic/claude-sonnet-4-5',
  gemini: 'gemini/gemini-2.5-flash',
  ollama: 'ollama/llama3.2',
};

let setup: FormatGateway;
let client: Anthropic;

beforeAll(async () => {
  setup = await startFormatGateway();
  client = new Anthropic({ baseURL: setup.kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
});
afterAll(() => setup?.close());

/** The error a call is refused with; a call that succeeds fails the test. */
const refusedWith = (call: Promise<unknown>): Promise<ApiError> =>
  call.then(
    () => {
      throw new Error('the call was not refused');
    },
    (error: unknown) => error as ApiError,
  );

/** The request `create` sends `extra` with, to the provider of `format`; its refusal. */
async function refusal(format: Format, extra: Partial<Body>): Promise<ApiError> {
  const before = setup.fakes[format].requests.length;
  const refused = await refusedWith(
    client.beta.messages.create({
      model: MODELS[format],
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
      ...extra,
    }),
  );
  // Refused on the gateway's side: nothing reached the provider.
  expect(setup.fakes[format].requests.length).toBe(before);
  return refused;
}

const invalid = (message: string) => ({ type: 'error', error: { type: 'invalid_request_error', message } });

/** A system message inside the conversation, which the SDK does not type yet. */
const system = (extra: Record<string, unknown>) =>
  ({ role: 'system', ...extra }) as unknown as Anthropic.Beta.BetaMessageParam;

describe('a translated refusal names the client field, as Anthropic names its own', () => {
  // Canonical indices differ from the client's: the system message before a user message is
  // hidden from the model, and a document of two texts becomes two parts.
  const conversation = (
    image: Anthropic.Beta.BetaImageBlockParam['source'],
  ): Anthropic.Beta.BetaMessageParam[] => [
    { role: 'user', content: 'first' },
    system({ content: 'The user opened a file.', clear_at: 'next_user_message' }),
    { role: 'user', content: 'second' },
    { role: 'assistant', content: 'ok' },
    {
      role: 'user',
      content: [
        {
          type: 'document',
          source: {
            type: 'content',
            content: [
              { type: 'text', text: 'a' },
              { type: 'text', text: 'b' },
            ],
          },
        },
        { type: 'image', source: image },
      ],
    },
  ];
  const url = { type: 'url' as const, url: 'https://example.com/a.png' };

  it.each([
    ['gemini', url, 'Gemini needs image data inline (base64) or a Gemini file URI'],
    ['ollama', url, 'Ollama needs image data inline (base64); an image URL cannot be sent to it'],
    [
      'openai',
      { type: 'file' as const, file_id: 'file_1' },
      'OpenAI-format providers need images as inline data (base64) or a URL, not a file reference',
    ],
  ] as const)('to %s, at the block the client sent', async (format, image, words) => {
    const refused = await refusal(format, { messages: conversation(image) });
    expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
    expect(refused.status).toBe(400);
    expect(refused.error).toEqual(invalid(`messages.4.content.1: ${words}`));
  });

  it('inside a tool result, at the part the client sent', async () => {
    const refused = await refusal('gemini', {
      tools: [{ name: 'look', input_schema: { type: 'object' } }],
      messages: [
        { role: 'user', content: 'q' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'look', input: {} }] },
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 'toolu_1',
              content: [
                { type: 'text', text: 'seen' },
                {
                  type: 'document',
                  source: {
                    type: 'content',
                    content: [
                      { type: 'text', text: 'a' },
                      { type: 'text', text: 'b' },
                    ],
                  },
                },
                { type: 'image', source: url },
              ],
            },
          ],
        },
      ],
    });
    expect(refused.error).toEqual(
      invalid('messages.2.content.0.content.2: Gemini needs image data inline (base64) or a Gemini file URI'),
    );
  });

  it('in a Keyward conversation, whose history joins the first message', async () => {
    const conversations = new OpenAI({
      baseURL: `${setup.kw.dataUrl}/v1`,
      apiKey: CLIENT_KEY,
      maxRetries: 0,
    });
    const conversation = await conversations.conversations.create({
      items: [{ type: 'message', role: 'user', content: 'earlier' }],
    });
    const refused = await refusedWith(
      client.messages.create(
        {
          model: MODELS.gemini,
          max_tokens: 100,
          messages: [
            {
              role: 'user',
              content: [
                { type: 'text', text: 'look' },
                { type: 'image', source: url },
              ],
            },
          ],
        },
        { headers: { 'x-keyward-conversation': conversation.id } },
      ),
    );
    expect(refused.error).toEqual(
      invalid('messages.0.content.1: Gemini needs image data inline (base64) or a Gemini file URI'),
    );
  });

  it.each(TRANSLATED)('to %s, for what only Anthropic can do', async (format) => {
    const searchResult = await refusal(format, {
      messages: [
        { role: 'user', content: 'q' },
        { role: 'assistant', content: 'a' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'x' },
            { type: 'search_result', source: 's', title: 't', content: [{ type: 'text', text: 'y' }] },
          ],
        },
      ],
    });
    expect(searchResult.error).toEqual(
      invalid("messages.2.content.1: 'search_result' blocks need an Anthropic model"),
    );
    const serverTool = await refusal(format, {
      tools: [
        { name: 'f', input_schema: { type: 'object' } },
        { type: 'web_search_20250305', name: 'web_search' },
      ],
    });
    expect(serverTool.error).toEqual(invalid('tools.1: Server tools need an Anthropic model'));
    const mcp = await refusal(format, {
      mcp_servers: [{ type: 'url', name: 'docs', url: 'https://mcp.example.com' }],
    });
    expect(mcp.error).toEqual(invalid('mcp_servers: MCP servers need an Anthropic model'));
  });
});

describe('container', () => {
  it.each(TRANSLATED)('is refused for %s, which has nowhere to run one', async (format) => {
    const containers: Body['container'][] = ['container_011CPR5CNjB747bTd36fQLFk', { skills: [] }];
    for (const container of containers) {
      const refused = await refusal(format, { container });
      expect(refused.status).toBe(400);
      expect(refused.error).toEqual(invalid('container: Containers need an Anthropic model'));
    }
  });

  it('reaches an Anthropic model as sent', async () => {
    const anthropic = setup.fakes.anthropic;
    await client.beta.messages.create({
      model: MODELS.anthropic,
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
      container: 'container_1',
    });
    expect(anthropic.requests.at(-1)?.body).toMatchObject({ container: 'container_1' });
  });
});

describe('max_tokens: 0', () => {
  it.each(TRANSLATED)('is refused for %s, which would read it as a limit', async (format) => {
    const refused = await refusal(format, { max_tokens: 0 });
    expect(refused.status).toBe(400);
    expect(refused.error).toEqual(
      invalid(
        "max_tokens: 0 only warms Anthropic's prompt cache; use an Anthropic model or a limit of at least 1",
      ),
    );
  });

  it('reaches an Anthropic model as sent, to warm its cache', async () => {
    const anthropic = setup.fakes.anthropic;
    await client.messages.create({
      model: MODELS.anthropic,
      max_tokens: 0,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(anthropic.requests.at(-1)?.body).toMatchObject({ max_tokens: 0 });
  });
});

describe('stop_sequences', () => {
  const six = ['a1', 'b2', 'c3', 'd4', 'e5', 'f6'];

  it.each([
    ['openai', 'OpenAI takes at most 4 stop sequences'],
    ['gemini', 'Gemini takes at most 5 stop sequences'],
  ] as const)('past what %s takes are refused, naming the field', async (format, words) => {
    const refused = await refusal(format, { stop_sequences: six });
    expect(refused.status).toBe(400);
    expect(refused.error).toEqual(invalid(`stop_sequences: ${words}`));
  });

  it('reach a provider that takes them all', async () => {
    await client.messages.create({
      model: MODELS.ollama,
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
      stop_sequences: six,
    });
    expect(setup.fakes.ollama.requests.at(-1)?.body).toMatchObject({ options: { stop: six } });
  });

  it.each(['openai', 'gemini'] as const)('as many as %s takes reach it', async (format) => {
    const allowed = six.slice(0, format === 'openai' ? 4 : 5);
    await client.messages.create({
      model: MODELS[format],
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
      stop_sequences: allowed,
    });
    const body = setup.fakes[format].requests.at(-1)?.body as Record<string, unknown>;
    expect(
      format === 'openai' ? body.stop : (body.generationConfig as { stopSequences: unknown }).stopSequences,
    ).toEqual(allowed);
  });
});

describe('a body in the wrong shape is told what goes where', () => {
  it('an OpenAI-shaped tool', async () => {
    const tools = [
      { type: 'function', function: { name: 'get_w', parameters: { type: 'object' } } },
    ] as unknown as Anthropic.Tool[];
    const refused = await refusal('openai', { tools });
    expect(refused.status).toBe(400);
    expect(refused.error).toEqual(
      invalid(
        "Invalid format for 'tools[0].type': expected a server tool's dated type such as web_search_20250305; a custom tool takes name and input_schema, with no type (or type \"custom\")",
      ),
    );
  });

  it.each([
    ['/v1/messages', { max_tokens: 100 }],
    ['/v1/messages/count_tokens', {}],
  ])('betas in the body of %s', async (path, limit) => {
    const before = setup.fakes.anthropic.requests.length;
    const refused = await refusedWith(
      client.post(path, {
        body: {
          model: MODELS.anthropic,
          ...limit,
          messages: [{ role: 'user', content: 'hi' }],
          betas: ['context-1m-2025-08-07'],
        },
      }),
    );
    expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
    expect(refused.error).toEqual(
      invalid(
        "Unrecognized request field 'betas': send beta flags in the anthropic-beta header (comma-separated), not in the body",
      ),
    );
    expect(setup.fakes.anthropic.requests.length).toBe(before);
  });
});
