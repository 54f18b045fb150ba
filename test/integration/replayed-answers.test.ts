import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Script } from '../support/fake-providers/script.js';
import { FORMATS, type Format, type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * OpenAI's function-calling guide appends the answer's message to the conversation as it came,
 * then the tool results. That message carries fields a request does not name: `annotations`
 * (OpenAI's own answers), `reasoning_content` (Keyward's, when the model thought) and `parsed`
 * (the SDK's `stream` and `parse` helpers). OpenAI takes it back; Keyward had refused each field
 * as unknown, on every provider, so the second turn of the commonest tool loop failed.
 */

const MODELS: Record<Format, string> = {
  openai: 'openai/gpt-4o-mini',
  anthropic: 'anthropic/claude-sonnet-4-5',
  gemini: 'gemini/gemini-2.5-flash',
  ollama: 'ollama/llama3.2',
};
const tools: OpenAI.ChatCompletionTool[] = [
  {
    type: 'function',
    function: { name: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
  },
];
const usage = { input: 12, output: 5 };
const toolCall: Script = {
  blocks: [
    { type: 'thinking', text: 'The weather tool knows.', signature: 'sig-1' },
    { type: 'tool_call', id: 'call_w1', name: 'weather', arguments: { city: 'Oslo' } },
  ],
  stop: 'tool_use',
  usage,
};
const answer: Script = { blocks: [{ type: 'text', text: 'It is 18 °C.' }], stop: 'end', usage };

let setup: FormatGateway;
let client: OpenAI;

beforeAll(async () => {
  setup = await startFormatGateway();
  client = new OpenAI({ baseURL: `${setup.kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
});
afterAll(() => setup?.close());

/** The assistant message the provider of `format` received in the second turn, as it was sent. */
const replayedTo = (format: Format): unknown => {
  const { body } = setup.fakes[format].requests.at(-1)!;
  return body;
};

describe.each(FORMATS)('the answer appended as it came, to %s', (format) => {
  const model = MODELS[format];

  it('create: annotations and reasoning_content go back, and nothing of them reaches the provider', async () => {
    setup.fakes[format].script(toolCall, answer);
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Weather in Oslo?' }];
    const first = await client.chat.completions.create({ model, messages, tools });
    const message = first.choices[0]!.message;
    expect(message.annotations).toEqual([]);
    if (format === 'anthropic' || format === 'gemini') {
      expect((message as { reasoning_content?: string }).reasoning_content).toBe('The weather tool knows.');
    }
    messages.push(message, { role: 'tool', tool_call_id: message.tool_calls![0]!.id, content: '18 °C' });
    const second = await client.chat.completions.create({ model, messages, tools });
    expect(second.choices[0]!.message.content).toBe('It is 18 °C.');
    const sent = JSON.stringify(replayedTo(format));
    expect(sent).not.toContain('annotations');
    expect(sent).not.toContain('reasoning_content');
    expect(sent).toContain('18 °C');
  });

  it("the SDK's stream helper: the final message, with its parsed: null, goes back", async () => {
    setup.fakes[format].script(toolCall, answer);
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Weather in Oslo?' }];
    const final = await client.chat.completions.stream({ model, messages, tools }).finalChatCompletion();
    const message = final.choices[0]!.message;
    expect(message.parsed).toBeNull();
    messages.push(message, { role: 'tool', tool_call_id: message.tool_calls![0]!.id, content: '18 °C' });
    const second = await client.chat.completions.create({ model, messages, tools });
    expect(second.choices[0]!.message.content).toBe('It is 18 °C.');
    expect(JSON.stringify(replayedTo(format))).not.toContain('parsed');
  });
});

describe('what an answer never carries is still refused', () => {
  it('an unknown field on an assistant message is a 400 naming it', async () => {
    const refused = await client.chat.completions
      .create({
        model: MODELS.openai,
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'hello', colour: 'blue' } as OpenAI.ChatCompletionMessageParam,
          { role: 'user', content: 'again' },
        ],
      })
      .then(
        () => undefined,
        (error: unknown) => error as InstanceType<typeof OpenAI.APIError>,
      );
    expect(refused?.status).toBe(400);
    expect(refused?.error).toMatchObject({ code: 'unknown_field', param: 'messages[1].colour' });
  });

  it('annotations must be a list of typed objects', async () => {
    const refused = await client.chat.completions
      .create({
        model: MODELS.openai,
        messages: [
          { role: 'user', content: 'hi' },
          {
            role: 'assistant',
            content: 'hello',
            annotations: 'none',
          } as unknown as OpenAI.ChatCompletionMessageParam,
          { role: 'user', content: 'again' },
        ],
      })
      .then(
        () => undefined,
        (error: unknown) => error as InstanceType<typeof OpenAI.APIError>,
      );
    expect(refused?.status).toBe(400);
    expect(refused?.error).toMatchObject({ param: 'messages[1].annotations' });
  });
});
