import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Script } from '../support/fake-providers/script.js';
import { type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * Chat Completions' custom (freeform) tools to models of other formats: the official `openai` SDK
 * through Keyward to the fake Anthropic and Gemini providers, which get a function of one string
 * (`input`) and call it; the client gets the custom tool's call back, streamed and not, and
 * replays it with its result on the next turn.
 */

const GRAMMAR = 'start: "*** Begin Patch" LF body "*** End Patch"\nLF: "\\n"\nbody: /(.|\\n)*/';
const PATCH = '*** Begin Patch\n*** Add File: hello.txt\n+Hello "world"\\n\n*** End Patch';

const applyPatch: OpenAI.Chat.ChatCompletionCustomTool = {
  type: 'custom',
  custom: {
    name: 'apply_patch',
    description: 'Edit files with a patch.',
    format: { type: 'grammar', grammar: { definition: GRAMMAR, syntax: 'lark' } },
  },
};
const weather: OpenAI.Chat.ChatCompletionFunctionTool = {
  type: 'function',
  function: { name: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
};

const CALL_ID = 'call_patch_1';

/** The model's call of the custom tool's function form, its arguments streamed in small pieces. */
const PATCH_CALL: Script = {
  blocks: [
    { type: 'text', text: 'Patching.' },
    { type: 'tool_call', id: CALL_ID, name: 'apply_patch', arguments: { input: PATCH } },
  ],
  stop: 'tool_use',
  usage: { input: 50, output: 30 },
  chunkSize: 7,
};
const DONE: Script = {
  blocks: [{ type: 'text', text: 'The file is added.' }],
  stop: 'end',
  usage: { input: 90, output: 6 },
};

type ToolCallDelta = OpenAI.Chat.ChatCompletionChunk.Choice.Delta.ToolCall;
/** A streamed custom call's delta, which the SDK's chunk types do not name (openai/openai-openapi#576). */
type CustomDelta = { index: number; id?: string; type?: string; custom?: { name?: string; input?: string } };

const MODELS = [
  ['anthropic', 'anthropic/claude-sonnet-4-5'],
  ['gemini', 'gemini/gemini-2.5-pro'],
] as const;

describe('custom tools through Chat Completions to other formats', () => {
  let gateway: FormatGateway;
  let client: OpenAI;

  beforeAll(async () => {
    gateway = await startFormatGateway();
    client = new OpenAI({ baseURL: `${gateway.kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  const firstTurn = (model: string) => ({
    model,
    messages: [{ role: 'user' as const, content: 'Add hello.txt' }],
    tools: [applyPatch, weather],
    tool_choice: { type: 'custom' as const, custom: { name: 'apply_patch' } },
  });

  /** The second turn: the client replays the custom call and sends its result. */
  async function followUp(model: string, call: OpenAI.Chat.ChatCompletionMessageToolCall) {
    const second = await client.chat.completions.create({
      model,
      messages: [
        { role: 'user', content: 'Add hello.txt' },
        { role: 'assistant', content: 'Patching.', tool_calls: [call] },
        { role: 'tool', tool_call_id: call.id, content: 'Done!' },
      ],
      tools: [applyPatch, weather],
    });
    expect(second.choices[0]?.message.content).toBe('The file is added.');
  }

  for (const [format, model] of MODELS) {
    it(`sends a custom tool to ${format} as a function of one string and answers its call as the custom tool's, then takes it back with its result`, async () => {
      const fake = gateway.fakes[format];
      fake.script(PATCH_CALL, DONE);
      const answer = await client.chat.completions.create(firstTurn(model));

      const sent = JSON.stringify(fake.requests.at(-1)?.body);
      expect(sent).toContain('"apply_patch"');
      expect(sent).toContain('Edit files with a patch.');
      expect(sent).toContain('Lark grammar');
      expect(sent).toContain(JSON.stringify(GRAMMAR).slice(1, -1));
      expect(sent).toContain('"input":{"type":"string"}');
      expect(sent).toContain(
        format === 'anthropic'
          ? '"tool_choice":{"type":"tool","name":"apply_patch"}'
          : '"allowedFunctionNames":["apply_patch"]',
      );

      const { message, finish_reason } = answer.choices[0]!;
      expect(finish_reason).toBe('tool_calls');
      expect(message.content).toBe('Patching.');
      expect(message.tool_calls).toEqual([
        { id: CALL_ID, type: 'custom', custom: { name: 'apply_patch', input: PATCH } },
      ]);

      await followUp(model, message.tool_calls![0]!);
      const replayed = JSON.stringify(fake.requests.at(-1)?.body);
      const args = format === 'anthropic' ? '"input":{"input":' : '"args":{"input":';
      expect(replayed).toContain(`${args}${JSON.stringify(PATCH)}}`);
      // The result answers the call: by id for Anthropic, by the tool's name for Gemini.
      expect(replayed).toContain(
        format === 'anthropic'
          ? '"tool_use_id":"call_patch_1","content":[{"type":"text","text":"Done!"}]'
          : '"functionResponse":{"name":"apply_patch","response":{"result":"Done!"}}',
      );
    });

    it(`streams a custom tool's call from ${format} as OpenAI streams one, its text in pieces`, async () => {
      const fake = gateway.fakes[format];
      fake.script(PATCH_CALL, DONE);
      const chunks = await streamed(firstTurn(model));

      const choices = chunks.flatMap((chunk) => chunk.choices);
      expect(choices.map((choice) => choice.delta.content ?? '').join('')).toBe('Patching.');
      expect(choices.at(-1)?.finish_reason).toBe('tool_calls');
      const deltas = expectCustomDeltas(chunks);
      // Anthropic streams the arguments in pieces, and the text comes as they do; Gemini sends a
      // call whole.
      if (format === 'anthropic') expect(deltas.length).toBeGreaterThan(2);

      await followUp(model, { id: CALL_ID, type: 'custom', custom: { name: 'apply_patch', input: PATCH } });
      expect(JSON.stringify(fake.requests.at(-1)?.body)).toContain(JSON.stringify({ input: PATCH }));
    });
  }

  /**
   * The chunks of a stream read with the SDK's `chat.completions.stream()`. Its accumulation knows
   * function calls only: it reads every chunk, then cannot finalize a custom call, OpenAI's own
   * included (see the last test).
   */
  async function streamed(params: ReturnType<typeof firstTurn>, options?: OpenAI.RequestOptions) {
    const stream = client.chat.completions.stream(params, options);
    const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
    stream.on('chunk', (chunk) => chunks.push(chunk));
    await expect(stream.done()).rejects.toThrow('missing choices[0].tool_calls[0].function.name');
    return chunks;
  }

  /** The custom call's deltas: its shape first, then its text in pieces; nothing of a function. */
  function expectCustomDeltas(chunks: OpenAI.Chat.ChatCompletionChunk[]): CustomDelta[] {
    const deltas = chunks.flatMap((chunk) =>
      (chunk.choices[0]?.delta.tool_calls ?? []).map((delta: ToolCallDelta) => delta as CustomDelta),
    );
    const [first, ...rest] = deltas;
    expect(first).toEqual({
      index: 0,
      id: CALL_ID,
      type: 'custom',
      custom: { name: 'apply_patch', input: expect.any(String) },
    });
    for (const delta of rest) expect(delta).toEqual({ index: 0, custom: { input: expect.any(String) } });
    expect(deltas.map((delta) => delta.custom?.input).join('')).toBe(PATCH);
    return deltas;
  }

  it("answers a function tool's call beside custom tools as a function call", async () => {
    gateway.fakes.anthropic.script({
      blocks: [{ type: 'tool_call', id: 'call_w', name: 'weather', arguments: { city: 'Oslo' } }],
      stop: 'tool_use',
      usage: { input: 10, output: 5 },
    });
    const answer = await client.chat.completions.create({
      ...firstTurn('anthropic/claude-sonnet-4-5'),
      tool_choice: 'auto',
    });
    expect(answer.choices[0]?.message.tool_calls).toEqual([
      { id: 'call_w', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } },
    ]);
  });

  it('names the custom tool in the tool choice it sends, and sends a free-text custom tool as a function of one string', async () => {
    gateway.fakes.anthropic.script(DONE);
    await client.chat.completions.create({
      model: 'anthropic/claude-sonnet-4-5',
      messages: [{ role: 'user', content: 'Run it' }],
      tools: [{ type: 'custom', custom: { name: 'shell', format: { type: 'text' } } }],
      tool_choice: { type: 'custom', custom: { name: 'shell' } },
    });
    const sent = gateway.fakes.anthropic.requests.at(-1)?.body as Record<string, unknown>;
    expect(sent.tool_choice).toEqual({ type: 'tool', name: 'shell' });
    expect(sent.tools).toEqual([
      expect.objectContaining({
        name: 'shell',
        description: "Call it with the tool's input as the string `input`.",
        input_schema: expect.objectContaining({ required: ['input'] }),
      }),
    ]);
  });

  it("keeps a translated custom call in a conversation as the custom tool's, and replays it to OpenAI as one", async () => {
    const conversation = await client.conversations.create({});
    const headers = { 'x-keyward-conversation': conversation.id };
    gateway.fakes.anthropic.script(PATCH_CALL);
    expectCustomDeltas(await streamed(firstTurn('anthropic/claude-sonnet-4-5'), { headers }));
    const items = await client.conversations.items.list(conversation.id, { order: 'asc' });
    expect(items.data.find((item) => item.type !== 'message')).toMatchObject({
      type: 'custom_tool_call',
      call_id: CALL_ID,
      name: 'apply_patch',
      input: PATCH,
    });

    gateway.fakes.openai.script(DONE);
    await client.chat.completions.create(
      {
        model: 'openai/gpt-5',
        messages: [{ role: 'tool', tool_call_id: CALL_ID, content: 'Done!' }],
        tools: [applyPatch],
      },
      { headers },
    );
    const sent = gateway.fakes.openai.requests.at(-1)!.body as { messages: unknown[] };
    expect(sent.messages).toContainEqual(
      expect.objectContaining({
        role: 'assistant',
        tool_calls: [{ id: CALL_ID, type: 'custom', custom: { name: 'apply_patch', input: PATCH } }],
      }),
    );
  });

  it("streams a translated custom call in the deltas OpenAI's own stream has, which the SDK reads alike", async () => {
    gateway.fakes.openai.script({
      ...PATCH_CALL,
      blocks: [
        { type: 'text', text: 'Patching.' },
        { type: 'tool_call', id: CALL_ID, name: 'apply_patch', arguments: {}, custom: PATCH },
      ],
    });
    gateway.fakes.anthropic.script(PATCH_CALL);
    const native = expectCustomDeltas(await streamed(firstTurn('openai/gpt-5')));
    const translated = expectCustomDeltas(await streamed(firstTurn('anthropic/claude-sonnet-4-5')));
    const keys = (delta: CustomDelta) => [Object.keys(delta), Object.keys(delta.custom ?? {})];
    expect(translated.slice(0, 2).map(keys)).toEqual(native.slice(0, 2).map(keys));
  });
});
