import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Script } from '../support/fake-providers/script.js';
import { type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * Custom (freeform) tools through the Responses API, as the Codex CLI sends its `apply_patch`: the
 * official `openai` SDK through Keyward to the fake OpenAI provider (Chat Completions' own custom
 * tools) and the fake Anthropic provider (a function taking one string, `input`), streamed and
 * not, with the call's output sent back on a stored follow-up turn and in a conversation.
 */

const GRAMMAR = 'start: "*** Begin Patch" LF body "*** End Patch"\nLF: "\\n"\nbody: /(.|\\n)*/';
const PATCH = '*** Begin Patch\n*** Add File: hello.txt\n+Hello "world"\n*** End Patch';

const applyPatch: OpenAI.Responses.CustomTool = {
  type: 'custom',
  name: 'apply_patch',
  description: 'Edit files with a patch.',
  format: { type: 'grammar', syntax: 'lark', definition: GRAMMAR },
};

const CALL_ID = 'call_patch_1';

/** The model's call: as a custom tool's from OpenAI, as the function form's from Anthropic. */
const patchCall = (format: 'openai' | 'anthropic'): Script => ({
  blocks: [
    { type: 'text', text: 'Patching.' },
    format === 'openai'
      ? { type: 'tool_call', id: CALL_ID, name: 'apply_patch', arguments: {}, custom: PATCH }
      : { type: 'tool_call', id: CALL_ID, name: 'apply_patch', arguments: { input: PATCH } },
  ],
  stop: 'tool_use',
  usage: { input: 50, output: 30 },
  chunkSize: 7,
});
const DONE: Script = {
  blocks: [{ type: 'text', text: 'The file is added.' }],
  stop: 'end',
  usage: { input: 90, output: 6 },
};

type Body = Record<string, unknown> & { messages: Array<Record<string, unknown>> };

describe('custom tools through the Responses API', () => {
  let gateway: FormatGateway;
  let client: OpenAI;

  beforeAll(async () => {
    gateway = await startFormatGateway();
    client = new OpenAI({ baseURL: `${gateway.kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  const lastBody = (format: 'openai' | 'anthropic'): Body =>
    gateway.fakes[format].requests.at(-1)?.body as Body;

  /** The first turn, streamed or not, and what its stream said of the call. */
  async function firstTurn(model: string, stream: boolean) {
    const params = {
      model,
      input: 'Add hello.txt',
      tools: [applyPatch],
      tool_choice: { type: 'custom' as const, name: 'apply_patch' },
    };
    if (!stream) return { response: await client.responses.create(params), events: [] };
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    const running = client.responses.stream(params);
    for await (const event of running) events.push(event);
    return { response: await running.finalResponse(), events };
  }

  /** `inPieces`: the provider streams the call's arguments in pieces, and the text streams as they come. */
  function expectCallEvents(
    events: OpenAI.Responses.ResponseStreamEvent[],
    itemId: string,
    inPieces: boolean,
  ) {
    const types = events.map((event) => event.type);
    const added = events.find(
      (event) => event.type === 'response.output_item.added' && event.item.type === 'custom_tool_call',
    );
    expect(added).toMatchObject({
      item: { type: 'custom_tool_call', id: itemId, name: 'apply_patch', input: '' },
    });
    const deltas = events.flatMap((event) =>
      event.type === 'response.custom_tool_call_input.delta' ? [event] : [],
    );
    if (inPieces) expect(deltas.length).toBeGreaterThan(1);
    else expect(deltas.length).toBeGreaterThan(0);
    for (const delta of deltas) expect(delta.item_id).toBe(itemId);
    expect(deltas.map((delta) => delta.delta).join('')).toBe(PATCH);
    const done = events.find((event) => event.type === 'response.custom_tool_call_input.done');
    expect(done).toMatchObject({ item_id: itemId, input: PATCH });
    const doneAt = types.indexOf('response.custom_tool_call_input.done');
    expect(events[doneAt + 1]).toMatchObject({
      type: 'response.output_item.done',
      item: { type: 'custom_tool_call', id: itemId, input: PATCH, status: 'completed' },
    });
    expect(types).not.toContain('response.function_call_arguments.delta');
  }

  for (const stream of [false, true]) {
    const how = stream ? 'streamed' : 'not streamed';

    it(`sends a custom tool to OpenAI as Chat Completions' own and answers its call (${how}), then takes its output back on a stored turn`, async () => {
      const fake = gateway.fakes.openai;
      fake.script(patchCall('openai'), DONE);
      const { response, events } = await firstTurn('openai/gpt-5', stream);

      const sent = lastBody('openai');
      expect(sent.tools).toEqual([
        {
          type: 'custom',
          custom: {
            name: 'apply_patch',
            description: 'Edit files with a patch.',
            format: { type: 'grammar', grammar: { definition: GRAMMAR, syntax: 'lark' } },
          },
        },
      ]);
      expect(sent.tool_choice).toEqual({ type: 'custom', custom: { name: 'apply_patch' } });

      const call = response.output.find((item) => item.type === 'custom_tool_call');
      expect(call).toMatchObject({
        type: 'custom_tool_call',
        call_id: CALL_ID,
        name: 'apply_patch',
        input: PATCH,
      });
      if (call?.type !== 'custom_tool_call') throw new Error('no custom tool call');
      expect(call.id).toMatch(/^ctc_/);
      if (stream) expectCallEvents(events, call.id!, true);
      const stored = await client.responses.retrieve(response.id);
      expect(stored.output.find((item) => item.type === 'custom_tool_call')).toEqual(call);

      const second = await client.responses.create({
        model: 'openai/gpt-5',
        previous_response_id: response.id,
        input: [{ type: 'custom_tool_call_output', call_id: CALL_ID, output: 'Done!' }],
        tools: [applyPatch],
      });
      expect(second.output_text).toBe('The file is added.');
      const replayed = lastBody('openai').messages;
      expect(replayed).toContainEqual(
        expect.objectContaining({
          role: 'assistant',
          tool_calls: [{ id: CALL_ID, type: 'custom', custom: { name: 'apply_patch', input: PATCH } }],
        }),
      );
      expect(replayed.at(-1)).toEqual({ role: 'tool', tool_call_id: CALL_ID, content: 'Done!' });
      const items = await client.responses.inputItems.list(second.id);
      expect(items.data).toEqual([
        expect.objectContaining({ type: 'custom_tool_call_output', call_id: CALL_ID, output: 'Done!' }),
      ]);
    });

    it(`sends a custom tool to Anthropic as a function of one string and answers its call as the custom tool's (${how})`, async () => {
      const fake = gateway.fakes.anthropic;
      fake.script(patchCall('anthropic'), DONE);
      const { response, events } = await firstTurn('anthropic/claude-sonnet-4-5', stream);

      const sent = lastBody('anthropic');
      const [tool] = sent.tools as Array<Record<string, unknown>>;
      expect(tool).toMatchObject({
        name: 'apply_patch',
        input_schema: { type: 'object', properties: { input: { type: 'string' } }, required: ['input'] },
      });
      expect(tool?.description).toContain('Edit files with a patch.');
      expect(tool?.description).toContain('Lark grammar');
      expect(tool?.description).toContain(GRAMMAR);
      expect(sent.tool_choice).toEqual({ type: 'tool', name: 'apply_patch' });

      const call = response.output.find((item) => item.type === 'custom_tool_call');
      expect(call).toMatchObject({
        type: 'custom_tool_call',
        call_id: CALL_ID,
        name: 'apply_patch',
        input: PATCH,
      });
      if (call?.type !== 'custom_tool_call') throw new Error('no custom tool call');
      if (stream) expectCallEvents(events, call.id!, true);

      const second = await client.responses.create({
        model: 'anthropic/claude-sonnet-4-5',
        previous_response_id: response.id,
        input: [{ type: 'custom_tool_call_output', call_id: CALL_ID, output: 'Done!' }],
        tools: [applyPatch],
      });
      expect(second.output_text).toBe('The file is added.');
      const replayed = lastBody('anthropic').messages;
      expect(replayed.at(-2)).toMatchObject({
        role: 'assistant',
        content: expect.arrayContaining([
          { type: 'tool_use', id: CALL_ID, name: 'apply_patch', input: { input: PATCH } },
        ]),
      });
      expect(JSON.stringify(replayed.at(-1))).toContain('"tool_use_id":"call_patch_1"');
      expect(JSON.stringify(replayed.at(-1))).toContain('Done!');
    });
  }

  it("sends a custom tool to Gemini as a function of one string, streams its call back as the custom tool's, and replays it with its output", async () => {
    gateway.fakes.gemini.script(patchCall('anthropic'), DONE);
    const { response, events } = await firstTurn('gemini/gemini-2.5-pro', true);
    const sent = gateway.fakes.gemini.requests.at(-1)?.body as {
      tools: Array<{ functionDeclarations: Array<Record<string, unknown>> }>;
    };
    expect(sent.tools[0]?.functionDeclarations[0]).toMatchObject({
      name: 'apply_patch',
      parametersJsonSchema: { properties: { input: { type: 'string' } }, required: ['input'] },
    });
    const call = response.output.find((item) => item.type === 'custom_tool_call');
    expect(call).toMatchObject({ name: 'apply_patch', input: PATCH });
    if (call?.type !== 'custom_tool_call') throw new Error('no custom tool call');
    expectCallEvents(events, call.id!, false);

    const second = await client.responses.create({
      model: 'gemini/gemini-2.5-pro',
      previous_response_id: response.id,
      input: [{ type: 'custom_tool_call_output', call_id: call.call_id, output: 'Done!' }],
      tools: [applyPatch],
    });
    expect(second.output_text).toBe('The file is added.');
    const replayed = JSON.stringify(gateway.fakes.gemini.requests.at(-1)?.body);
    expect(replayed).toContain(JSON.stringify({ name: 'apply_patch', args: { input: PATCH } }).slice(1, -1));
    expect(replayed).toContain('"functionResponse"');
    expect(replayed).toContain('Done!');
  });

  it("sends a custom tool to Ollama as a function of one string, answers its call as the custom tool's, and replays it", async () => {
    gateway.fakes.ollama.script(patchCall('anthropic'), DONE);
    const { response } = await firstTurn('ollama/qwen3', false);
    const sent = gateway.fakes.ollama.requests.at(-1)?.body as { tools: Array<Record<string, unknown>> };
    expect(sent.tools[0]).toMatchObject({
      type: 'function',
      function: { name: 'apply_patch', parameters: { properties: { input: { type: 'string' } } } },
    });
    const call = response.output.find((item) => item.type === 'custom_tool_call');
    expect(call).toMatchObject({ name: 'apply_patch', input: PATCH });
    if (call?.type !== 'custom_tool_call') throw new Error('no custom tool call');

    const second = await client.responses.create({
      model: 'ollama/qwen3',
      previous_response_id: response.id,
      input: [{ type: 'custom_tool_call_output', call_id: call.call_id, output: 'Done!' }],
      tools: [applyPatch],
    });
    expect(second.output_text).toBe('The file is added.');
    const replayed = JSON.stringify(gateway.fakes.ollama.requests.at(-1)?.body);
    expect(replayed).toContain(
      JSON.stringify({ name: 'apply_patch', arguments: { input: PATCH } }).slice(1, -1),
    );
    expect(replayed).toContain('Done!');
  });

  it('sends a free-text custom tool as it is, and refuses by name what Keyward does not offer on custom tools', async () => {
    gateway.fakes.openai.script(DONE);
    await client.responses.create({
      model: 'openai/gpt-5',
      input: 'Run it',
      tools: [
        { type: 'custom', name: 'shell', format: { type: 'text' } },
        { type: 'custom', name: 'note' },
      ],
    });
    expect(lastBody('openai').tools).toEqual([
      { type: 'custom', custom: { name: 'shell', format: { type: 'text' } } },
      { type: 'custom', custom: { name: 'note' } },
    ]);

    const refused: Array<[string, Partial<OpenAI.Responses.ResponseCreateParamsNonStreaming>]> = [
      ['tools[0].defer_loading', { tools: [{ ...applyPatch, defer_loading: true }] }],
      ['tools[0].allowed_callers', { tools: [{ ...applyPatch, allowed_callers: ['programmatic'] }] }],
      [
        'input[0].namespace',
        {
          input: [{ type: 'custom_tool_call', call_id: 'c', name: 'apply_patch', input: '', namespace: 'n' }],
        },
      ],
      [
        'input[0].caller',
        {
          input: [
            {
              type: 'custom_tool_call_output',
              call_id: 'c',
              output: '',
              caller: { type: 'program', caller_id: 'p' },
            },
          ],
        },
      ],
    ];
    for (const [param, fields] of refused) {
      await expect(
        client.responses.create({ model: 'openai/gpt-5', input: 'x', ...fields, stream: false }),
      ).rejects.toMatchObject({ status: 400, param, code: 'unsupported_parameter' });
    }
  });

  it('keeps custom tool calls and their outputs in a conversation, replays them, and refuses an output without its call', async () => {
    const conversation = await client.conversations.create({
      items: [
        { type: 'message', role: 'user', content: 'Add hello.txt' },
        { type: 'custom_tool_call', call_id: CALL_ID, name: 'apply_patch', input: PATCH },
        { type: 'custom_tool_call_output', call_id: CALL_ID, output: 'Done!' },
      ],
    });
    const listed = await client.conversations.items.list(conversation.id, { order: 'asc' });
    expect(listed.data.map((item) => item.type)).toEqual([
      'message',
      'custom_tool_call',
      'custom_tool_call_output',
    ]);
    expect(listed.data[1]).toMatchObject({
      call_id: CALL_ID,
      name: 'apply_patch',
      input: PATCH,
      status: 'completed',
    });
    expect(listed.data[1]?.id).toMatch(/^ctc_/);

    gateway.fakes.openai.script(DONE);
    const response = await client.responses.create({
      model: 'openai/gpt-5',
      conversation: conversation.id,
      input: 'Thanks',
      tools: [applyPatch],
    });
    expect(response.output_text).toBe('The file is added.');
    const sent = lastBody('openai').messages;
    expect(sent).toContainEqual(
      expect.objectContaining({
        tool_calls: [{ id: CALL_ID, type: 'custom', custom: { name: 'apply_patch', input: PATCH } }],
      }),
    );
    expect(sent).toContainEqual({ role: 'tool', tool_call_id: CALL_ID, content: 'Done!' });

    await expect(
      client.conversations.items.create(conversation.id, {
        items: [{ type: 'custom_tool_call_output', call_id: 'call_nowhere', output: 'x' }],
      }),
    ).rejects.toMatchObject({ status: 400, code: 'function_call_not_found', param: 'items[0]' });
  });
});
