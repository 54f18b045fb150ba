import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { FORMATS, type Format, startFormatGateway } from '../support/format-gateway.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * The official SDKs against Keyward in front of fake providers of every other format: the final
 * message an SDK assembles through the gateway must be the one it assembles from a direct call to
 * a provider of its own format playing the same script.
 */

const weather = { city: 'Paris', unit: 'celsius' };
const SCRIPTS: Record<string, Script> = {
  text: {
    blocks: [{ type: 'text', text: 'Hello there, how can I help you today?' }],
    stop: 'end',
    usage: { input: 21, output: 9 },
  },
  tools: {
    blocks: [
      { type: 'text', text: 'Let me check both.' },
      { type: 'tool_call', id: 'call_weather_1', name: 'get_weather', arguments: weather },
      {
        type: 'tool_call',
        id: 'call_weather_2',
        name: 'get_weather',
        arguments: { city: 'Oslo', unit: 'celsius' },
      },
    ],
    stop: 'tool_use',
    usage: { input: 120, output: 40, cached: 64 },
  },
  thinking: {
    blocks: [
      { type: 'thinking', text: 'The user greets me; answer briefly.', signature: 'c2lnbmF0dXJlLW9uZQ==' },
      { type: 'text', text: 'Hi!' },
    ],
    stop: 'end',
    usage: { input: 30, output: 25 },
  },
  truncated: {
    blocks: [{ type: 'text', text: 'This answer runs out of room befo' }],
    stop: 'max_tokens',
    usage: { input: 12, output: 8 },
  },
};

const tools: OpenAI.ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'The weather in a city',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
        required: ['city'],
      },
    },
  },
];
const anthropicTools: Anthropic.Tool[] = [
  {
    name: 'get_weather',
    description: 'The weather in a city',
    input_schema:
      tools[0]!.type === 'function'
        ? (tools[0]!.function.parameters as Anthropic.Tool.InputSchema)
        : { type: 'object' },
  },
];

describe('official SDKs through Keyward, every provider format', () => {
  let fakes: Record<Format, FakeProvider>;
  let kw: TestGateway;
  let viaOpenAI: OpenAI;
  let viaAnthropic: Anthropic;
  let directOpenAI: OpenAI;
  let directAnthropic: Anthropic;

  beforeAll(async () => {
    // A second OpenAI and Anthropic fake answer the direct calls, so each side sees its own requests.
    ({ fakes, kw } = await startFormatGateway());
    viaOpenAI = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    viaAnthropic = new Anthropic({ baseURL: kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
    directOpenAI = new OpenAI({ baseURL: fakes.openai.baseUrl, apiKey: PROVIDER_KEY, maxRetries: 0 });
    directAnthropic = new Anthropic({ baseURL: fakes.anthropic.url, apiKey: PROVIDER_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await kw?.close();
    await Promise.all(FORMATS.map((format) => fakes?.[format]?.close()));
  });

  /** What an OpenAI client reads from a final ChatCompletion (ids only where the provider keeps them). */
  function openAIView(completion: OpenAI.ChatCompletion, keepIds: boolean) {
    const choice = completion.choices[0]!;
    const message = choice.message as OpenAI.ChatCompletionMessage & { reasoning_content?: string };
    return {
      content: message.content,
      reasoning: message.reasoning_content ?? null,
      toolCalls: (message.tool_calls ?? []).map((call) => {
        if (call.type !== 'function') throw new Error('custom tool call');
        return {
          ...(keepIds && { id: call.id }),
          name: call.function.name,
          arguments: JSON.parse(call.function.arguments),
        };
      }),
      finish: choice.finish_reason,
      usage: {
        prompt: completion.usage?.prompt_tokens,
        completion: completion.usage?.completion_tokens,
        cached: completion.usage?.prompt_tokens_details?.cached_tokens ?? 0,
      },
    };
  }

  /**
   * What an Anthropic client reads from a final Message; `signedBy` names another format whose
   * signatures the gateway shows behind its name (`kwf1.<format>.`, canonical/foreign-signature.ts).
   */
  function anthropicView(
    message: Anthropic.Message,
    keep: { ids: boolean; signatures: boolean },
    signedBy?: string,
  ) {
    return {
      content: message.content.map((block) => {
        switch (block.type) {
          case 'text':
            return { type: 'text', text: block.text };
          case 'thinking':
            return {
              type: 'thinking',
              thinking: block.thinking,
              ...(keep.signatures && {
                signature: signedBy ? `kwf1.${signedBy}.${block.signature}` : block.signature,
              }),
            };
          case 'tool_use':
            return {
              type: 'tool_use',
              ...(keep.ids && { id: block.id }),
              name: block.name,
              input: block.input,
            };
          default:
            return { type: block.type };
        }
      }),
      stop: message.stop_reason,
      // Anthropic's input_tokens leave out cache reads: the view counts all input, like OpenAI's.
      usage: {
        input: message.usage.input_tokens + (message.usage.cache_read_input_tokens ?? 0),
        output: message.usage.output_tokens,
        cached: message.usage.cache_read_input_tokens ?? 0,
      },
    };
  }

  /** Ollama has no prompt cache: a direct call's cached count cannot survive a trip through it. */
  function withoutCache<V extends { usage: { cached: number } }>(view: V, provider: Format): V {
    return provider === 'ollama' ? { ...view, usage: { ...view.usage, cached: 0 } } : view;
  }

  async function openAIFinal(client: OpenAI, model: string, stream: boolean): Promise<OpenAI.ChatCompletion> {
    const params = {
      model,
      messages: [{ role: 'user' as const, content: 'What is the weather in Paris and Oslo?' }],
      tools,
    };
    if (!stream) return client.chat.completions.create(params);
    return client.chat.completions
      .stream({ ...params, stream_options: { include_usage: true } })
      .finalChatCompletion();
  }

  async function anthropicFinal(
    client: Anthropic,
    model: string,
    stream: boolean,
  ): Promise<Anthropic.Message> {
    const params = {
      model,
      max_tokens: 1024,
      messages: [{ role: 'user' as const, content: 'What is the weather in Paris and Oslo?' }],
      tools: anthropicTools,
    };
    if (!stream) return client.messages.create(params);
    return client.messages.stream(params).finalMessage();
  }

  for (const provider of ['anthropic', 'gemini', 'ollama'] as const) {
    for (const [scriptName, script] of Object.entries(SCRIPTS)) {
      for (const stream of [false, true]) {
        it(`openai SDK → ${provider} provider: ${scriptName}${stream ? ', streaming' : ''}`, async () => {
          fakes.openai.script(script);
          fakes[provider].script(script);
          const direct = await openAIFinal(directOpenAI, 'model-x', stream);
          const through = await openAIFinal(viaOpenAI, `${provider}/model-x`, stream);
          // Anthropic keeps tool call ids; Gemini's may carry a thought signature; Ollama has none.
          const keepIds = provider === 'anthropic';
          expect(openAIView(through, keepIds)).toEqual(withoutCache(openAIView(direct, keepIds), provider));
        });
      }
    }
  }

  for (const provider of ['anthropic', 'gemini', 'ollama'] as const) {
    for (const stream of [false, true]) {
      it(`openai SDK with legacy functions → ${provider} provider: one function_call${stream ? ', streaming' : ''}`, async () => {
        // Two calls in the script: a provider may make several even when asked for one (Gemini
        // has no switch for it); a legacy client has room for the first only.
        fakes[provider].script(SCRIPTS.tools!);
        const params = {
          model: `${provider}/model-x`,
          messages: [{ role: 'user' as const, content: 'What is the weather in Paris?' }],
          functions: tools.map((tool) => (tool.type === 'function' ? tool.function : undefined)!),
        };
        const completion = stream
          ? await viaOpenAI.chat.completions.stream(params).finalChatCompletion()
          : await viaOpenAI.chat.completions.create(params);
        const choice = completion.choices[0]!;
        expect(choice.finish_reason).toBe('function_call');
        expect(choice.message.tool_calls ?? []).toEqual([]);
        expect(choice.message.content).toBe('Let me check both.');
        expect(choice.message.function_call?.name).toBe('get_weather');
        expect(JSON.parse(choice.message.function_call?.arguments ?? '')).toEqual(weather);
        if (provider === 'anthropic') {
          expect(fakes.anthropic.requests.at(-1)?.body).toMatchObject({
            tool_choice: { type: 'auto', disable_parallel_tool_use: true },
          });
        }
      });
    }
  }

  it('openai SDK with legacy functions in a conversation: only the call shown is stored', async () => {
    // Gemini may make several calls though asked for one; the client sees and answers the first.
    fakes.gemini.script(SCRIPTS.tools!);
    const conversation = await viaOpenAI.conversations.create({});
    const completion = await viaOpenAI.chat.completions.create(
      {
        model: 'gemini/model-x',
        messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
        functions: tools.map((tool) => (tool.type === 'function' ? tool.function : undefined)!),
      },
      { headers: { 'x-keyward-conversation': conversation.id } },
    );
    expect(completion.choices[0]?.finish_reason).toBe('function_call');
    const items = await viaOpenAI.conversations.items.list(conversation.id, { order: 'asc' });
    const calls = items.data.filter((item) => item.type === 'function_call');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ name: 'get_weather' });
  });

  for (const provider of ['openai', 'gemini', 'ollama'] as const) {
    for (const [scriptName, script] of Object.entries(SCRIPTS)) {
      for (const stream of [false, true]) {
        it(`anthropic SDK → ${provider} provider: ${scriptName}${stream ? ', streaming' : ''}`, async () => {
          fakes.anthropic.script(script);
          fakes[provider].script(script);
          const direct = await anthropicFinal(directAnthropic, 'model-x', stream);
          const through = await anthropicFinal(viaAnthropic, `${provider}/model-x`, stream);
          // Only Gemini can carry a thinking signature back; OpenAI-format tool call ids survive.
          const keep = { ids: provider === 'openai', signatures: provider === 'gemini' };
          const signedBy = provider === 'gemini' ? 'gemini' : undefined;
          expect(anthropicView(through, keep)).toEqual(
            withoutCache(anthropicView(direct, keep, signedBy), provider),
          );
        });
      }
    }
  }

  it('anthropic SDK → gemini: the thought signature returns with the tool result on the next turn', async () => {
    fakes.gemini.script({
      blocks: [
        { type: 'thinking', text: 'I need the weather tool.', signature: 'Z2VtaW5pLXNpZ25hdHVyZQ==' },
        { type: 'tool_call', id: 'fc_1', name: 'get_weather', arguments: weather },
      ],
      stop: 'tool_use',
      usage: { input: 40, output: 12 },
    });
    const first = await anthropicFinal(viaAnthropic, 'gemini/gemini-3-pro', false);
    const toolUse = first.content.find((block) => block.type === 'tool_use');
    expect(toolUse).toBeDefined();
    fakes.gemini.script(SCRIPTS.text!);
    await viaAnthropic.messages.create({
      model: 'gemini/gemini-3-pro',
      max_tokens: 1024,
      tools: anthropicTools,
      messages: [
        { role: 'user', content: 'What is the weather in Paris?' },
        { role: 'assistant', content: first.content as Anthropic.ContentBlockParam[] },
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: toolUse!.type === 'tool_use' ? toolUse!.id : '',
              content: '18 °C',
            },
          ],
        },
      ],
    });
    const sent = fakes.gemini.requests.at(-1)!.body as {
      contents: Array<{ role: string; parts: Array<Record<string, unknown>> }>;
    };
    const call = sent.contents[1]!.parts.find((part) => 'functionCall' in part)!;
    expect(call.thoughtSignature).toBe('Z2VtaW5pLXNpZ25hdHVyZQ==');
    expect(call.functionCall).toMatchObject({ name: 'get_weather', args: weather });
    const result = sent.contents[2]!.parts.find((part) => 'functionResponse' in part)!;
    expect(result.functionResponse).toMatchObject({ name: 'get_weather' });
  });

  describe('a stream that breaks is an error on every surface, never a clean stop', () => {
    const faults: Array<[string, Script['fault']]> = [
      ['cut mid-way', { kind: 'cut', afterEvents: 3 }],
      ['provider error event', { kind: 'error_event', afterEvents: 3 }],
      ['no terminal event', { kind: 'no_terminal' }],
    ];
    const long: Script = {
      blocks: [{ type: 'text', text: 'A fairly long answer that arrives in many small pieces.' }],
      stop: 'end',
      usage: { input: 10, output: 20 },
      chunkSize: 4,
    };
    for (const provider of FORMATS) {
      for (const [name, fault] of faults) {
        // Ollama has no in-stream error other than an error line; every format has one.
        it(`${provider} provider, ${name} → openai SDK raises`, async () => {
          fakes[provider].script({ ...long, fault });
          const stream = viaOpenAI.chat.completions.stream({
            model: `${provider}/model-x`,
            messages: [{ role: 'user', content: 'Tell me' }],
          });
          await expect(stream.finalChatCompletion()).rejects.toThrow();
        });
        it(`${provider} provider, ${name} → anthropic SDK raises`, async () => {
          fakes[provider].script({ ...long, fault });
          const stream = viaAnthropic.messages.stream({
            model: `${provider}/model-x`,
            max_tokens: 100,
            messages: [{ role: 'user', content: 'Tell me' }],
          });
          await expect(stream.finalMessage()).rejects.toThrow();
        });
      }
    }
  });
});

describe('fallbacks for streaming requests', () => {
  let primary: FakeProvider;
  let secondary: FakeProvider;
  let kw: TestGateway;
  let client: OpenAI;

  beforeAll(async () => {
    primary = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    secondary = await startFakeProvider('gemini', { keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          {
            id: 'claude',
            type: 'anthropic',
            baseUrl: primary.baseUrl,
            keys: { env: 'PROVIDER_KEY' },
            retries: { maxAttempts: 1 },
          },
          {
            id: 'gem',
            type: 'gemini',
            baseUrl: secondary.baseUrl,
            keys: { env: 'PROVIDER_KEY' },
            retries: { maxAttempts: 1 },
          },
        ],
        models: [
          {
            name: 'resilient',
            provider: 'claude',
            model: 'claude-sonnet-4-5',
            fallbacks: [{ provider: 'gem', model: 'gemini-2.5-flash' }],
          },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
    );
    client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await kw?.close();
    await Promise.all([primary?.close(), secondary?.close()]);
  });

  const answer: Script = {
    blocks: [{ type: 'text', text: 'From the fallback.' }],
    stop: 'end',
    usage: { input: 5, output: 4 },
  };

  it('the primary answers 529 overloaded: the stream comes from the fallback', async () => {
    primary.script({ ...answer, fault: { kind: 'status', status: 529 } });
    secondary.script(answer);
    const final = await client.chat.completions
      .stream({ model: 'resilient', messages: [{ role: 'user', content: 'Hi' }] })
      .finalChatCompletion();
    expect(final.choices[0]!.message.content).toBe('From the fallback.');
    expect(primary.requests).toHaveLength(1);
  });

  it("the primary's stream fails before its first event: the fallback still answers", async () => {
    primary.script({ ...answer, fault: { kind: 'error_event', afterEvents: 0, status: 529 } });
    secondary.script(answer);
    const final = await client.chat.completions
      .stream({ model: 'resilient', messages: [{ role: 'user', content: 'Hi' }] })
      .finalChatCompletion();
    expect(final.choices[0]!.message.content).toBe('From the fallback.');
  });

  it('once the client has the first byte there is no fallback: a later cut is an error', async () => {
    primary.script({ ...answer, chunkSize: 2, fault: { kind: 'cut', afterEvents: 4 } });
    secondary.script(answer);
    const before = secondary.requests.length;
    await expect(
      client.chat.completions
        .stream({ model: 'resilient', messages: [{ role: 'user', content: 'Hi' }] })
        .finalChatCompletion(),
    ).rejects.toThrow();
    expect(secondary.requests.length).toBe(before);
  });
});
