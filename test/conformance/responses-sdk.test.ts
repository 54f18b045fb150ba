import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeProvider } from '../support/fake-providers/server.js';
import { FORMATS, type Format, startFormatGateway } from '../support/format-gateway.js';
import type { TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';
import { GREETING, WEATHER_ANSWER, WEATHER_CALL, WEATHER_JSON } from '../support/weather-scripts.js';

/**
 * The official `openai` SDK's Responses API through Keyward to fake providers of every format:
 * text, streams, function tools with their results sent back, JSON schema output, and the stored
 * state (`retrieve`, `inputItems.list`, `delete`, `previous_response_id`).
 */

const [TEXT, TOOL_CALL, AFTER_TOOL, JSON_ANSWER] = [GREETING, WEATHER_CALL, WEATHER_ANSWER, WEATHER_JSON];

const tools: OpenAI.Responses.FunctionTool[] = [
  {
    type: 'function',
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    strict: false,
  },
];

/** Every text the provider received in one request, whatever its format. */
function upstreamText(fake: FakeProvider, index = -1): string {
  return fake.requests.at(index)?.raw ?? '';
}

describe('openai SDK Responses API through Keyward, every provider format', () => {
  let fakes: Record<Format, FakeProvider>;
  let kw: TestGateway;
  let client: OpenAI;

  beforeAll(async () => {
    ({ fakes, kw } = await startFormatGateway());
    client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await kw?.close();
    await Promise.all(FORMATS.map((format) => fakes?.[format]?.close()));
  });

  for (const format of FORMATS) {
    const model = `${format}/test-model`;

    describe(`to ${format}`, () => {
      it('answers text, and stores it for retrieve, inputItems.list and delete', async () => {
        fakes[format].script(TEXT);
        const response = await client.responses.create({
          model,
          input: 'Say hello',
          instructions: 'Be brief.',
        });
        expect(response.object).toBe('response');
        expect(response.status).toBe('completed');
        expect(response.output_text).toBe('Hello there, how can I help you today?');
        expect(response.usage).toMatchObject({ input_tokens: 21, output_tokens: 9, total_tokens: 30 });
        expect(upstreamText(fakes[format])).toContain('Be brief.');

        const again = await client.responses.retrieve(response.id);
        expect(again.output_text).toBe(response.output_text);
        expect(again.output).toEqual(response.output);
        const items = await client.responses.inputItems.list(response.id);
        expect(items.data).toHaveLength(1);
        expect(items.data[0]).toMatchObject({
          type: 'message',
          role: 'user',
          content: [{ type: 'input_text', text: 'Say hello' }],
        });
        await client.responses.delete(response.id);
        await expect(client.responses.retrieve(response.id)).rejects.toMatchObject({ status: 404 });
      });

      it('streams text with the Responses event sequence', async () => {
        fakes[format].script(TEXT);
        const stream = client.responses.stream({ model, input: 'Say hello' });
        const types: string[] = [];
        let text = '';
        let completed: unknown;
        for await (const event of stream) {
          types.push(event.type);
          if (event.type === 'response.output_text.delta') text += event.delta;
          if (event.type === 'response.completed') completed = event.response;
        }
        const final = await stream.finalResponse();
        expect(text).toBe('Hello there, how can I help you today?');
        expect(final.output_text).toBe(text);
        expect(types.slice(0, 4)).toEqual([
          'response.created',
          'response.in_progress',
          'response.output_item.added',
          'response.content_part.added',
        ]);
        expect(types.slice(-4)).toEqual([
          'response.output_text.done',
          'response.content_part.done',
          'response.output_item.done',
          'response.completed',
        ]);
        const stored = await client.responses.retrieve(final.id);
        expect(stored.output_text).toBe(text);
        // What is stored is what the last event said, field for field.
        expect(stored).toMatchObject(completed as object);
      });

      it('ends a stream the provider cuts mid-way with error and response.failed, and stores nothing', async () => {
        fakes[format].script({ ...TEXT, chunkSize: 2, fault: { kind: 'cut', afterEvents: 6 } });
        const events: OpenAI.Responses.ResponseStreamEvent[] = [];
        for await (const event of await client.responses.create({
          model,
          input: 'Say hello',
          stream: true,
        })) {
          events.push(event);
        }
        const types = events.map((event) => event.type);
        expect(types).toContain('response.output_text.delta');
        expect(types.slice(-2)).toEqual(['error', 'response.failed']);
        const failed = events.at(-1) as OpenAI.Responses.ResponseFailedEvent;
        expect(failed.response).toMatchObject({ status: 'failed', error: { code: 'server_error' } });
        expect(failed.response.output[0]).toMatchObject({ type: 'message', status: 'incomplete' });
        expect(JSON.stringify(events)).not.toContain(PROVIDER_KEY);
        await expect(client.responses.retrieve(failed.response.id)).rejects.toMatchObject({ status: 404 });
      });

      for (const stream of [false, true]) {
        it(`calls a function and takes its result back (${stream ? 'streamed' : 'not streamed'})`, async () => {
          fakes[format].script(TOOL_CALL, AFTER_TOOL);
          const params = { model, input: 'Weather in Paris?', tools };
          const first = stream
            ? await client.responses.stream(params).finalResponse()
            : await client.responses.create(params);
          const call = first.output.find((item) => item.type === 'function_call');
          expect(call).toMatchObject({ type: 'function_call', name: 'get_weather' });
          if (call?.type !== 'function_call') throw new Error('no function call');
          expect(JSON.parse(call.arguments)).toEqual({ city: 'Paris' });

          const second = await client.responses.create({
            model,
            previous_response_id: first.id,
            input: [{ type: 'function_call_output', call_id: call.call_id, output: '21 degrees' }],
            tools,
          });
          expect(second.output_text).toBe('It is 21 degrees in Paris.');
          expect(second.previous_response_id).toBe(first.id);
          const sent = upstreamText(fakes[format]);
          expect(sent).toContain('Weather in Paris?');
          expect(sent).toContain('21 degrees');
          expect(sent).not.toContain(first.id);
        });
      }

      it('asks for JSON schema output with text.format', async () => {
        fakes[format].script(JSON_ANSWER);
        const response = await client.responses.create({
          model,
          input: 'Weather as JSON',
          text: {
            format: {
              type: 'json_schema',
              name: 'weather',
              schema: {
                type: 'object',
                properties: { city: { type: 'string' }, temperature: { type: 'number' } },
                required: ['city', 'temperature'],
                additionalProperties: false,
              },
              strict: true,
            },
          },
        });
        expect(JSON.parse(response.output_text)).toEqual({ city: 'Paris', temperature: 21 });
        expect(upstreamText(fakes[format])).toContain('"temperature"');
      });
    });
  }

  it("streams Claude's thinking as the reasoning summary when one is asked for", async () => {
    const thought = 'Paris is in France.';
    fakes.anthropic.script({
      blocks: [
        { type: 'thinking', text: thought, signature: 'sig-1' },
        { type: 'text', text: 'Paris.' },
      ],
      stop: 'end',
      usage: { input: 10, output: 8 },
    });
    const stream = client.responses.stream({
      model: 'anthropic/test-model',
      input: 'Capital of France?',
      reasoning: { effort: 'low', summary: 'auto' },
    });
    const types: string[] = [];
    let summarized = '';
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.reasoning_summary_text.delta') summarized += event.delta;
    }
    const response = await stream.finalResponse();
    expect(summarized).toBe(thought);
    expect(types).toContain('response.reasoning_summary_part.added');
    expect(types).toContain('response.reasoning_summary_part.done');
    expect(types).not.toContain('response.reasoning_text.delta');
    const [reasoning] = response.output;
    expect(reasoning).toMatchObject({
      type: 'reasoning',
      summary: [{ type: 'summary_text', text: thought }],
    });
    expect(response.output_text).toBe('Paris.');
  });

  it('accepts the fields the SDK types allow: hints dropped for other providers, max effort passed on', async () => {
    // A cache breakpoint: OpenAI-format providers take it, the others go without (accept-fields.test.ts).
    const breakpoint = (_format: string) => ({ prompt_cache_breakpoint: { mode: 'explicit' as const } });
    const pixel =
      'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
    for (const format of ['openai', 'anthropic'] as const) {
      fakes[format].script(TEXT);
      const response = await client.responses.create({
        model: `${format}/test-model`,
        input: [
          { role: 'assistant', content: 'Earlier answer.', phase: 'final_answer' },
          {
            role: 'user',
            content: [
              { type: 'input_text', text: 'Describe it', ...breakpoint(format) },
              { type: 'input_image', image_url: pixel, detail: 'original' },
            ],
          },
        ],
        reasoning: { effort: 'max', context: 'current_turn', mode: 'standard' },
        prompt_cache_options: { mode: 'explicit', ttl: '30m' },
      } as OpenAI.Responses.ResponseCreateParamsNonStreaming);
      expect(response.status).toBe('completed');
      expect(upstreamText(fakes[format])).toContain('Describe it');
    }
  });

  it('takes generate_summary, the older name of reasoning.summary', async () => {
    fakes.anthropic.script({
      blocks: [
        { type: 'thinking', text: 'Short.', signature: 'sig-2' },
        { type: 'text', text: 'Yes.' },
      ],
      stop: 'end',
      usage: { input: 10, output: 4 },
    });
    const response = await client.responses.create({
      model: 'anthropic/test-model',
      input: 'Is it?',
      reasoning: { effort: 'low', generate_summary: 'concise' },
    });
    expect(response.output[0]).toMatchObject({ type: 'reasoning', summary: [{ text: 'Short.' }] });
  });

  it('refuses a reasoning item whose encrypted_content was altered, naming it', async () => {
    const damaged = client.responses.create({
      model: 'anthropic/test-model',
      input: [
        { type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: 'kwr1.bm90LWpzb24' },
        { role: 'user', content: 'Go on' },
      ],
      store: false,
    });
    await expect(damaged).rejects.toMatchObject({ status: 400, param: 'input[0].encrypted_content' });
  });
});
