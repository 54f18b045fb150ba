import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Script } from '../support/fake-providers/script.js';
import { type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * The item an answer was cut short in is `incomplete`, as OpenAI marks it, and only that one: the
 * last item at a max-tokens stop (in the response, its `response.output_item.done` and what is
 * stored), the unfinished one at a failure.
 */
const CUT: Script = {
  blocks: [
    { type: 'text', text: 'Let me check.' },
    { type: 'tool_call', id: 'call_1', name: 'get_weather', arguments: { city: 'Par' } },
  ],
  stop: 'max_tokens',
  chunkSize: 100,
  usage: { input: 30, output: 16 },
};
const tools: OpenAI.Responses.Tool[] = [
  { type: 'function', name: 'get_weather', parameters: { type: 'object' }, strict: false },
];

let setup: FormatGateway;
let client: OpenAI;
beforeAll(async () => {
  setup = await startFormatGateway();
  client = new OpenAI({ baseURL: `${setup.kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
});
afterAll(() => setup?.close());

type OutputItem = OpenAI.Responses.ResponseOutputItem;
const statusOf = (item: OutputItem) => [item.type, 'status' in item ? item.status : undefined];
const statuses = (output: readonly OutputItem[]) => output.map(statusOf);
const CUT_STATUSES = [
  ['message', 'completed'],
  ['function_call', 'incomplete'],
];

describe.each(['openai', 'anthropic'] as const)('an answer from %s', (format) => {
  const model = `${format}/m`;

  it('cut by max tokens marks the last item incomplete, not the ones before', async () => {
    setup.fakes[format].script(CUT);
    const whole = await client.responses.create({ model, input: 'Weather?', tools });
    expect(whole.status).toBe('incomplete');
    expect(statuses(whole.output)).toEqual(CUT_STATUSES);
    expect(statuses((await client.responses.retrieve(whole.id)).output)).toEqual(CUT_STATUSES);

    const stream = await client.responses.create({ model, input: 'Weather?', tools, stream: true });
    const done: unknown[] = [];
    let final: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      if (event.type === 'response.output_item.done') done.push(statusOf(event.item));
      if (event.type === 'response.incomplete') final = event.response;
    }
    expect(done).toEqual(CUT_STATUSES);
    expect(statuses(final!.output)).toEqual(CUT_STATUSES);
    expect(statuses((await client.responses.retrieve(final!.id)).output)).toEqual(CUT_STATUSES);
  });
});

describe('a stream failing mid-answer', () => {
  it('marks incomplete only the item it cut, not those already done', async () => {
    setup.fakes.anthropic.script({
      ...CUT,
      stop: 'tool_use',
      chunkSize: 2,
      // message_start, the text's start, 7 deltas and stop, the call's start and 2 of its deltas: cut.
      fault: { kind: 'cut', afterEvents: 13 },
    });
    const stream = await client.responses.create({
      model: 'anthropic/m',
      input: 'Weather?',
      tools,
      stream: true,
    });
    const done: unknown[] = [];
    let failed: OpenAI.Responses.Response | undefined;
    try {
      for await (const event of stream) {
        if (event.type === 'response.output_item.done') done.push(statusOf(event.item));
        if (event.type === 'response.failed') failed = event.response;
      }
    } catch {
      // The SDK throws on the `error` event; response.failed came with it.
    }
    expect(done).toEqual([['message', 'completed']]);
    expect(failed?.status).toBe('failed');
    expect(statuses(failed!.output)).toEqual(CUT_STATUSES);
  });
});
