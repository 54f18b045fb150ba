import {
  type Content,
  type FunctionCall,
  type GenerateContentParameters,
  GoogleGenAI,
  type Part,
  Type,
} from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Script } from '../support/fake-providers/script.js';
import type { FakeProvider } from '../support/fake-providers/server.js';
import { type Format, startFormatGateway } from '../support/format-gateway.js';
import type { TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * A Gemini client shown another format's reasoning: Claude's thinking signature goes out behind its
 * signer's name (`kwf1.anthropic.…`), goes back to Anthropic unwrapped, and never reaches Gemini,
 * which refuses the whole request over a signature it did not make (the fakes do too, see
 * fake-providers/signatures.ts). Gemini 3 still gets the documented stand-in on the function call
 * that Claude's turn made, as it refuses a replayed call without a signature.
 */

const ANTHROPIC_SIGNATURE = 'EqQBCkYIBxgCIkBnZW1pbmktc3VyZmFjZS1jbGF1ZGUtc2lnbmF0dXJl';
const WRAPPED = `kwf1.anthropic.${ANTHROPIC_SIGNATURE}`;
const THOUGHT = 'Claude weighed the weather tool.';

const CLAUDE_CALL: Script = {
  blocks: [
    { type: 'thinking', text: THOUGHT, signature: ANTHROPIC_SIGNATURE },
    { type: 'tool_call', id: 'toolu_weather_1', name: 'get_weather', arguments: { city: 'Paris' } },
  ],
  stop: 'tool_use',
  usage: { input: 40, output: 20 },
};
const say = (text: string): Script => ({
  blocks: [{ type: 'text', text }],
  stop: 'end',
  usage: { input: 50, output: 5 },
});

const weatherTool = {
  functionDeclarations: [
    {
      name: 'get_weather',
      parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING } }, required: ['city'] },
    },
  ],
};

type Json = Record<string, unknown>;
const list = (value: unknown): Json[] => (Array.isArray(value) ? value : []);

/** The model turns' parts the fake Gemini got in its last request. */
function modelPartsSentToGemini(fake: FakeProvider): Json[] {
  const body = fake.requests.at(-1)?.body as Json;
  return list(body.contents).flatMap((content) => (content.role === 'model' ? list(content.parts) : []));
}

/** The thinking blocks the fake Anthropic got in its last request. */
function thinkingSentToAnthropic(fake: FakeProvider): Json[] {
  const body = fake.requests.at(-1)?.body as Json;
  return list(body.messages)
    .flatMap((message) => list(message.content))
    .filter((block) => block.type === 'thinking' || block.type === 'redacted_thinking');
}

describe("another format's thought signature on the Gemini surface", () => {
  let fakes: Record<Format, FakeProvider>;
  let kw: TestGateway;
  let ai: GoogleGenAI;

  beforeAll(async () => {
    ({ fakes, kw } = await startFormatGateway());
    ai = new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: kw.dataUrl } });
  });
  afterAll(async () => {
    await kw?.close();
    await Promise.all(Object.values(fakes ?? {}).map((fake) => fake.close()));
  });

  const ask = (model: string, contents: Content[]): GenerateContentParameters => ({
    model,
    contents,
    config: { tools: [weatherTool], thinkingConfig: { thinkingBudget: 1024, includeThoughts: true } },
  });
  const question: Content = { role: 'user', parts: [{ text: 'Weather in Paris?' }] };
  const result: Content = {
    role: 'user',
    parts: [{ functionResponse: { name: 'get_weather', response: { result: '21 degrees' } } }],
  };

  /** Claude's tool call turn as the client got it, streamed or not. */
  async function claudeTurn(stream: boolean): Promise<Content> {
    fakes.anthropic.script(CLAUDE_CALL);
    const params = ask('anthropic/m', [question]);
    if (!stream) return (await ai.models.generateContent(params)).candidates![0]!.content!;
    const parts: Part[] = [];
    for await (const chunk of await ai.models.generateContentStream(params))
      parts.push(...(chunk.candidates?.[0]?.content?.parts ?? []));
    return { role: 'model', parts };
  }

  for (const stream of [false, true]) {
    it(`shows Claude's signature wrapped; Anthropic gets it back unwrapped, Gemini never${stream ? ' (streamed)' : ''}`, async () => {
      const turn = await claudeTurn(stream);
      const signatures = (turn.parts ?? []).flatMap((part) =>
        part.thoughtSignature === undefined ? [] : [part.thoughtSignature],
      );
      expect(signatures).toEqual([WRAPPED]);
      const history = [question, turn, result];
      // A streamed turn ends with the finish chunk's empty text, which the client keeps.
      const finish = stream ? [{ text: '' }] : [];

      // The client moved to a Gemini 3 model: Claude's thought and signature are left out, and the
      // call Claude made gets Google's stand-in signature.
      fakes.gemini.script(say('It is 21 degrees in Paris.'));
      const moved = await ai.models.generateContent(ask('gemini/gemini-3-pro-preview', history));
      expect(moved.text).toBe('It is 21 degrees in Paris.');
      const sent = fakes.gemini.requests.at(-1)!;
      expect(sent.raw).not.toContain(ANTHROPIC_SIGNATURE);
      expect(sent.raw).not.toContain(THOUGHT);
      expect(modelPartsSentToGemini(fakes.gemini)).toEqual([
        {
          functionCall: { id: 'toolu_weather_1', name: 'get_weather', args: { city: 'Paris' } },
          thoughtSignature: 'skip_thought_signature_validator',
        },
        ...finish,
      ]);

      // An earlier Gemini checks no signatures on calls: the call goes without one.
      fakes.gemini.script(say('It is 21 degrees in Paris.'));
      await ai.models.generateContent(ask('gemini/gemini-2.5-flash', history));
      expect(modelPartsSentToGemini(fakes.gemini)).toEqual([
        { functionCall: { id: 'toolu_weather_1', name: 'get_weather', args: { city: 'Paris' } } },
        ...finish,
      ]);

      // Back to Claude: its own signature, unwrapped, with its thinking (whole, though a stream
      // showed it in pieces).
      fakes.anthropic.script(say('21 degrees.'));
      const back = await ai.models.generateContent(ask('anthropic/m', history));
      expect(back.text).toBe('21 degrees.');
      expect(thinkingSentToAnthropic(fakes.anthropic)).toEqual([
        { type: 'thinking', thinking: THOUGHT, signature: ANTHROPIC_SIGNATURE },
      ]);
    });
  }

  it("gives Claude its streamed thinking back whole through the SDK's chat, which keeps each chunk apart", async () => {
    fakes.anthropic.script({ ...CLAUDE_CALL, chunkSize: 5 }, say('21 degrees.'));
    const chat = ai.chats.create({ model: 'anthropic/m', config: ask('anthropic/m', []).config });
    const calls: FunctionCall[] = [];
    for await (const chunk of await chat.sendMessageStream({ message: 'Weather in Paris?' }))
      calls.push(...(chunk.functionCalls ?? []));
    const back = await chat.sendMessage({
      message: calls.map((call) => ({
        functionResponse: { id: call.id, name: call.name, response: { result: '21 degrees' } },
      })),
    });
    expect(back.text).toBe('21 degrees.');
    expect(thinkingSentToAnthropic(fakes.anthropic)).toEqual([
      { type: 'thinking', thinking: THOUGHT, signature: ANTHROPIC_SIGNATURE },
    ]);
  });

  for (const stream of [false, true]) {
    it(`hides Claude's thoughts unless includeThoughts asks, its signature still taking them back${stream ? ' (streamed)' : ''}`, async () => {
      fakes.anthropic.script({ ...CLAUDE_CALL, chunkSize: 5 }, say('21 degrees.'));
      const config = { tools: [weatherTool], thinkingConfig: { thinkingBudget: 2048 } };
      const chat = ai.chats.create({ model: 'anthropic/m', config });
      const parts: Part[] = [];
      if (stream) {
        for await (const chunk of await chat.sendMessageStream({ message: 'Weather in Paris?' }))
          parts.push(...(chunk.candidates?.[0]?.content?.parts ?? []));
      } else {
        parts.push(
          ...((await chat.sendMessage({ message: 'Weather in Paris?' })).candidates?.[0]?.content?.parts ??
            []),
        );
      }
      expect(fakes.anthropic.requests.at(-1)!.body).toMatchObject({
        thinking: { type: 'enabled', budget_tokens: 2048 },
      });
      expect(parts.some((part) => part.thought)).toBe(false);
      expect(parts.map((part) => part.text ?? '').join('')).not.toContain('Claude weighed');
      const call = parts.find((part) => part.functionCall)!.functionCall!;

      const back = await chat.sendMessage({
        message: [{ functionResponse: { id: call.id, name: call.name, response: { result: '21 degrees' } } }],
      });
      expect(back.text).toBe('21 degrees.');
      expect(thinkingSentToAnthropic(fakes.anthropic)).toEqual([
        { type: 'thinking', thinking: THOUGHT, signature: ANTHROPIC_SIGNATURE },
      ]);

      // Moved to Gemini, the hidden thought is left out as a shown one is.
      fakes.gemini.script(say('It is 21 degrees in Paris.'));
      await ai.models.generateContent({
        model: 'gemini/gemini-2.5-flash',
        contents: chat.getHistory(),
        config,
      });
      expect(fakes.gemini.requests.at(-1)!.raw).not.toContain('kwf1.');
    });
  }

  it("gives a function call that carries another format's signature none of it, Gemini 3 the stand-in", async () => {
    // A client that moved the signature it was shown onto the call it goes with.
    const moved: Content = {
      role: 'model',
      parts: [
        {
          functionCall: { id: 'toolu_weather_1', name: 'get_weather', args: { city: 'Paris' } },
          thoughtSignature: WRAPPED,
        },
      ],
    };
    const history = [question, moved, result];
    fakes.gemini.script(say('It is 21 degrees in Paris.'));
    await ai.models.generateContent(ask('gemini/gemini-3-pro-preview', history));
    expect(modelPartsSentToGemini(fakes.gemini)).toEqual([
      {
        functionCall: { id: 'toolu_weather_1', name: 'get_weather', args: { city: 'Paris' } },
        thoughtSignature: 'skip_thought_signature_validator',
      },
    ]);

    fakes.anthropic.script(say('21 degrees.'));
    await ai.models.generateContent(ask('anthropic/m', history));
    const sent = fakes.anthropic.requests.at(-1)!;
    expect(sent.raw).not.toContain(ANTHROPIC_SIGNATURE);
    const calls = list((sent.body as Json).messages)
      .flatMap((message) => list(message.content))
      .filter((block) => block.type === 'tool_use');
    expect(calls).toEqual([expect.objectContaining({ id: 'toolu_weather_1', name: 'get_weather' })]);
  });

  it('names a damaged signature as the client sent it, a thoughtSignature', async () => {
    const res = await fetch(`${kw.dataUrl}/v1beta/models/openai/m:generateContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': CLIENT_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({
        contents: [
          question,
          { role: 'model', parts: [{ text: 'b', thoughtSignature: 'kwf1.anthropic.kwr1.garbage!!' }] },
          { role: 'user', parts: [{ text: 'hi' }] },
        ],
      }),
    });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { message: string } };
    expect(error.message).toContain('thoughtSignature is damaged');
    expect(error.message).not.toContain('encrypted_content');
  });

  it('keeps Gemini’s own signatures on the same-format path as they were', async () => {
    const own: Content = {
      role: 'model',
      parts: [
        { text: 'Gemini weighed it.', thought: true },
        {
          functionCall: { id: 'fc_1', name: 'get_weather', args: { city: 'Paris' } },
          thoughtSignature: 'CiQBgeminiOwnSignature',
        },
      ],
    };
    fakes.gemini.script(say('It is 21 degrees in Paris.'));
    await ai.models.generateContent(ask('gemini/gemini-3-pro-preview', [question, own, result]));
    expect(modelPartsSentToGemini(fakes.gemini)).toEqual(own.parts);
  });
});
