import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, Output, stepCountIs, streamText, tool } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Script } from '../support/fake-providers/script.js';
import type { FakeProvider } from '../support/fake-providers/server.js';
import { FORMATS, type Format, startFormatGateway } from '../support/format-gateway.js';
import type { TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * The Vercel AI SDK's `openai(model)`, which posts to /v1/responses, through Keyward to fake
 * providers of every format: text, streams, a tool run by the SDK with its result sent back, JSON
 * schema output, and a second turn by previous_response_id.
 */
const say = (text: string): Script => ({
  blocks: [{ type: 'text', text }],
  stop: 'end',
  usage: { input: 12, output: 6 },
});

/** A tool the SDK runs itself, its result sent back on the next step. */
const weather = tool({
  description: 'Weather in a city',
  inputSchema: jsonSchema<{ city: string }>({
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
    additionalProperties: false,
  }),
  execute: async ({ city }) => ({ city, degrees: 21 }),
});

describe('Vercel AI SDK openai(model) through Keyward', () => {
  let fakes: Record<Format, FakeProvider>;
  let kw: TestGateway;
  let openai: ReturnType<typeof createOpenAI>;

  beforeAll(async () => {
    ({ fakes, kw } = await startFormatGateway());
    openai = createOpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY });
  });
  afterAll(async () => {
    await kw?.close();
    await Promise.all(FORMATS.map((format) => fakes?.[format]?.close()));
  });

  for (const format of FORMATS) {
    const model = `${format}/test-model`;

    it(`${format}: generateText, then a second turn by previousResponseId`, async () => {
      fakes[format].script(say('Hello from the model.'), say('You said hello.'));
      const first = await generateText({ model: openai(model), prompt: 'Say hello', maxRetries: 0 });
      expect(first.text).toBe('Hello from the model.');
      expect(first.usage.inputTokens).toBe(12);
      const responseId = first.providerMetadata?.openai?.responseId as string;
      expect(responseId).toMatch(/^resp_/);
      const second = await generateText({
        model: openai(model),
        prompt: 'What did I say?',
        providerOptions: { openai: { previousResponseId: responseId } },
        maxRetries: 0,
      });
      expect(second.text).toBe('You said hello.');
      expect(fakes[format].requests.at(-1)!.raw).toContain('Hello from the model.');
    });

    it(`${format}: streamText with a tool the SDK runs, its result sent back`, async () => {
      fakes[format].script(
        {
          blocks: [{ type: 'tool_call', id: 'call_w1', name: 'weather', arguments: { city: 'Paris' } }],
          stop: 'tool_use',
          usage: { input: 30, output: 10 },
        },
        say('Paris: 21 degrees.'),
      );
      const result = streamText({
        model: openai(model),
        prompt: 'Weather in Paris?',
        tools: { weather },
        stopWhen: stepCountIs(3),
        maxRetries: 0,
      });
      let text = '';
      for await (const piece of result.textStream) text += piece;
      expect(text).toBe('Paris: 21 degrees.');
      const steps = await result.steps;
      expect(steps[0]!.toolCalls[0]).toMatchObject({ toolName: 'weather', input: { city: 'Paris' } });
      expect(fakes[format].requests.at(-1)!.raw).toContain('21');
    });

    it(`${format}: JSON schema output`, async () => {
      fakes[format].script(say('{"city":"Oslo","degrees":4}'));
      const { output } = await generateText({
        model: openai(model),
        prompt: 'Weather as JSON',
        output: Output.object({
          schema: jsonSchema<{ city: string; degrees: number }>({
            type: 'object',
            properties: { city: { type: 'string' }, degrees: { type: 'number' } },
            required: ['city', 'degrees'],
            additionalProperties: false,
          }),
        }),
        maxRetries: 0,
      });
      expect(output).toEqual({ city: 'Oslo', degrees: 4 });
    });
  }

  for (const streamed of [false, true]) {
    it(`anthropic: a tool loop with store: false and a reasoning summary sends Claude's thinking back whole (${streamed ? 'streamed' : 'not streamed'})`, async () => {
      const thought = 'The weather tool knows Paris.';
      fakes.anthropic.script(
        {
          blocks: [
            { type: 'thinking', text: thought, signature: 'sig-paris-1' },
            { type: 'tool_call', id: 'toolu_w1', name: 'weather', arguments: { city: 'Paris' } },
          ],
          stop: 'tool_use',
          usage: { input: 30, output: 10 },
        },
        say('Paris: 21 degrees.'),
      );
      const options = {
        model: openai('anthropic/test-model'),
        prompt: 'Weather in Paris?',
        tools: { weather },
        stopWhen: stepCountIs(3),
        // The SDK keeps the state: it sends the reasoning item back with its summary and encrypted_content.
        providerOptions: { openai: { store: false, forceReasoning: true, reasoningSummary: 'auto' } },
        maxRetries: 0,
      };
      let reasoning: string | undefined;
      let text: string;
      if (streamed) {
        const result = streamText(options);
        text = '';
        for await (const piece of result.textStream) text += piece;
        reasoning = (await result.steps)[0]!.reasoningText;
      } else {
        const result = await generateText(options);
        text = result.text;
        reasoning = result.steps[0]!.reasoningText;
      }
      expect(text).toBe('Paris: 21 degrees.');
      expect(reasoning).toBe(thought);
      const sent = fakes.anthropic.requests.at(-1)!.body as {
        messages: Array<{ role: string; content: Array<Record<string, unknown>> }>;
      };
      const answered = sent.messages.find((message) => message.role === 'assistant')!;
      expect(answered.content[0]).toEqual({ type: 'thinking', thinking: thought, signature: 'sig-paris-1' });
    });
  }
});
