import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Script } from '../support/fake-providers/script.js';
import type { FakeProvider } from '../support/fake-providers/server.js';
import { type Format, startFormatGateway } from '../support/format-gateway.js';
import type { TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * Reasoning one provider signed is sent back only to a provider of the same format. Anthropic and
 * Gemini check a replayed signature against their own keys and refuse the whole request over
 * another's (the fakes do too, see fake-providers/signatures.ts), so a conversation that changes
 * provider format must leave the other's signatures out, and keep each provider's own.
 */

const GEMINI_SIGNATURE = 'CiQBjDb0e2Vtb2dlbWluaS10aG91Z2h0LXNpZ25hdHVyZQ==';
const ANTHROPIC_SIGNATURE = 'EqQBCkYIBxgCIkBhbnRocm9waWMtdGhpbmtpbmctc2lnbmF0dXJl';
/** OpenAI's encrypted reasoning, as a client that talked to OpenAI directly keeps it (a Fernet token). */
const OPENAI_ENCRYPTED = 'gAAAAABpQ2xpZW50LWtlcHQtb3BlbmFpLXJlYXNvbmluZy1ibG9i';

const thought = (text: string, signature: string, answer: string): Script => ({
  blocks: [
    { type: 'thinking', text, signature },
    { type: 'text', text: answer },
  ],
  stop: 'end',
  usage: { input: 12, output: 9 },
});
const say = (text: string): Script => ({
  blocks: [{ type: 'text', text }],
  stop: 'end',
  usage: { input: 8, output: 3 },
});

type Json = Record<string, unknown>;
const blocks = (value: unknown, key: string): Json[] =>
  (Array.isArray(value) ? value : []).flatMap((entry: Json) => (Array.isArray(entry[key]) ? entry[key] : []));

/** The thinking blocks (signed or redacted) the fake Anthropic got in its last request. */
function thinkingSentToAnthropic(fake: FakeProvider): Json[] {
  const body = fake.requests.at(-1)?.body as Json;
  return blocks(body.messages, 'content').filter(
    (block) => block.type === 'thinking' || block.type === 'redacted_thinking',
  );
}

/** The thought signatures the fake Gemini got in its last request, on thoughts and calls alike. */
function signaturesSentToGemini(fake: FakeProvider): unknown[] {
  const body = fake.requests.at(-1)?.body as Json;
  return blocks(body.contents, 'parts').flatMap((part) =>
    part.thoughtSignature !== undefined ? [part.thoughtSignature] : [],
  );
}

describe('reasoning signed by one provider format, continued with another', () => {
  let fakes: Record<Format, FakeProvider>;
  let kw: TestGateway;
  let client: OpenAI;

  beforeAll(async () => {
    ({ fakes, kw } = await startFormatGateway());
    client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await kw?.close();
    await Promise.all(Object.values(fakes ?? {}).map((fake) => fake.close()));
  });

  const respond = (
    body: Omit<OpenAI.Responses.ResponseCreateParamsNonStreaming, 'stream'>,
    stream: boolean,
  ) => (stream ? client.responses.stream(body).finalResponse() : client.responses.create(body));

  for (const stream of [false, true]) {
    it(`previous_response_id from Gemini to Anthropic and back sends each only its own signature${stream ? ' (streamed)' : ''}`, async () => {
      const reasoning = { effort: 'low' } as const;
      fakes.gemini.script(thought('Gemini weighed it.', GEMINI_SIGNATURE, 'Hello from Gemini.'));
      const first = await respond({ model: 'gemini/m', input: 'Hello', reasoning }, stream);
      expect(first.output[0]).toMatchObject({ type: 'reasoning' });

      fakes.anthropic.script(thought('Claude weighed it.', ANTHROPIC_SIGNATURE, 'Hello from Claude.'));
      const second = await respond(
        { model: 'anthropic/m', previous_response_id: first.id, input: 'And you?', reasoning },
        stream,
      );
      expect(second.output_text).toBe('Hello from Claude.');
      expect(thinkingSentToAnthropic(fakes.anthropic)).toEqual([]);
      expect(fakes.anthropic.requests.at(-1)?.raw).toContain('Hello from Gemini.');

      fakes.gemini.script(say('Both of us.'));
      const third = await respond(
        { model: 'gemini/m', previous_response_id: second.id, input: 'Who spoke?', reasoning },
        stream,
      );
      expect(third.output_text).toBe('Both of us.');
      // Gemini's own thought goes back with its signature; Claude's does not reach it.
      expect(signaturesSentToGemini(fakes.gemini)).toEqual([GEMINI_SIGNATURE]);
      expect(fakes.gemini.requests.at(-1)?.raw).not.toContain(ANTHROPIC_SIGNATURE);

      fakes.anthropic.script(say('Still here.'));
      await respond(
        { model: 'anthropic/m', previous_response_id: third.id, input: 'Claude?', reasoning },
        stream,
      );
      // Claude's own thought, two turns back, is still replayed to it.
      expect(thinkingSentToAnthropic(fakes.anthropic)).toEqual([
        { type: 'thinking', thinking: 'Claude weighed it.', signature: ANTHROPIC_SIGNATURE },
      ]);
    });
  }

  const weatherTool: OpenAI.Responses.FunctionTool = {
    type: 'function',
    name: 'get_weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } } },
    strict: false,
  };
  /** A tool loop a client ran with OpenAI itself, its encrypted reasoning kept (with or without a summary). */
  const openAIToolLoop = (summary: string | undefined): OpenAI.Responses.ResponseInput => [
    { role: 'user', content: 'Weather in Paris?' },
    {
      type: 'reasoning',
      id: 'rs_from_openai',
      summary: summary === undefined ? [] : [{ type: 'summary_text', text: summary }],
      encrypted_content: OPENAI_ENCRYPTED,
    },
    { type: 'function_call', call_id: 'call_paris', name: 'get_weather', arguments: '{"city":"Paris"}' },
    { type: 'function_call_output', call_id: 'call_paris', output: '21 degrees' },
  ];

  for (const summary of ['I should ask the weather tool.', undefined]) {
    it(`OpenAI's encrypted reasoning ${summary ? 'with' : 'without'} a summary never reaches Anthropic, which thinks again after the loop`, async () => {
      fakes.anthropic.script(say('It is 21 degrees in Paris.'));
      const response = await client.responses.create({
        model: 'anthropic/m',
        input: openAIToolLoop(summary),
        tools: [weatherTool],
        reasoning: { effort: 'low' },
        store: false,
      });
      expect(response.output_text).toBe('It is 21 degrees in Paris.');
      const sent = fakes.anthropic.requests.at(-1)!;
      expect(sent.raw).not.toContain(OPENAI_ENCRYPTED);
      expect(thinkingSentToAnthropic(fakes.anthropic)).toEqual([]);
      // The loop's turn opens without signed thinking: Anthropic takes it only with thinking off.
      expect((sent.body as Json).thinking).toEqual({ type: 'disabled' });
    });
  }

  it("OpenAI's encrypted reasoning never reaches Gemini as a thought signature", async () => {
    fakes.gemini.script(say('It is 21 degrees in Paris.'));
    const response = await client.responses.create({
      model: 'gemini/m',
      input: openAIToolLoop('I should ask the weather tool.'),
      tools: [weatherTool],
      reasoning: { effort: 'low' },
      store: false,
    });
    expect(response.output_text).toBe('It is 21 degrees in Paris.');
    expect(fakes.gemini.requests.at(-1)?.raw).not.toContain(OPENAI_ENCRYPTED);
  });

  it('a Chat Completions conversation (x-keyward-conversation) moved from Gemini to Anthropic leaves Gemini’s signature out', async () => {
    const conversation = await client.conversations.create({});
    const headers = { 'x-keyward-conversation': conversation.id };
    fakes.gemini.script(thought('Gemini thought in the chat.', GEMINI_SIGNATURE, 'Hi from Gemini.'));
    const streamed = await client.chat.completions.create(
      {
        model: 'gemini/m',
        messages: [{ role: 'user', content: 'Hi' }],
        reasoning_effort: 'low',
        stream: true,
      },
      { headers },
    );
    let said = '';
    for await (const chunk of streamed) said += chunk.choices[0]?.delta.content ?? '';
    expect(said).toBe('Hi from Gemini.');

    fakes.anthropic.script(say('Hi from Claude.'));
    const chat = await client.chat.completions.create(
      { model: 'anthropic/m', messages: [{ role: 'user', content: 'And Claude?' }], reasoning_effort: 'low' },
      { headers },
    );
    expect(chat.choices[0]?.message.content).toBe('Hi from Claude.');
    expect(fakes.anthropic.requests.at(-1)?.raw).toContain('Hi from Gemini.');
    expect(thinkingSentToAnthropic(fakes.anthropic)).toEqual([]);
  });

  it("gives an Anthropic client Gemini's signature behind its signer's name: back to Gemini it goes unwrapped, to Claude not at all", async () => {
    const claude = new Anthropic({ baseURL: kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
    for (const stream of [false, true]) {
      const ask: Anthropic.MessageCreateParamsNonStreaming = {
        model: 'gemini/m',
        max_tokens: 2048,
        thinking: { type: 'enabled', budget_tokens: 1024 },
        messages: [{ role: 'user', content: 'Hello' }],
      };
      fakes.gemini.script(thought('Gemini weighed it.', GEMINI_SIGNATURE, 'Hello from Gemini.'));
      const answer = stream
        ? await claude.messages.stream(ask).finalMessage()
        : await claude.messages.create(ask);
      expect(answer.content[0]).toMatchObject({
        type: 'thinking',
        thinking: 'Gemini weighed it.',
        signature: `kwf1.gemini.${GEMINI_SIGNATURE}`,
      });
      const history = [...ask.messages, { role: 'assistant' as const, content: answer.content }];

      // Back to the Gemini model: its own signature, as Gemini 3 needs it for function calling.
      fakes.gemini.script(say('Still Gemini.'));
      await claude.messages.create({ ...ask, messages: [...history, { role: 'user', content: 'Go on.' }] });
      expect(signaturesSentToGemini(fakes.gemini)).toEqual([GEMINI_SIGNATURE]);

      // Claude Code switched to a Claude model: its history goes to Anthropic as it is, Gemini's thought left out.
      fakes.anthropic.script(say('Hello from Claude.'));
      const switched = await claude.messages.create({
        ...ask,
        model: 'anthropic/m',
        messages: [...history, { role: 'user', content: 'And you?' }],
      });
      expect(switched.content).toEqual([expect.objectContaining({ text: 'Hello from Claude.' })]);
      expect(thinkingSentToAnthropic(fakes.anthropic)).toEqual([]);
    }
  });

  it("an Anthropic client's own Claude thinking, moved to a Gemini model, is left out there and kept for Claude", async () => {
    const claude = new Anthropic({ baseURL: kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
    const tools: Anthropic.Tool[] = [
      { name: 'read', input_schema: { type: 'object', properties: { path: { type: 'string' } } } },
    ];
    const ask: Anthropic.MessageCreateParamsNonStreaming = {
      model: 'anthropic/m',
      max_tokens: 2048,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      tools,
      messages: [{ role: 'user', content: 'Read x.' }],
    };
    fakes.anthropic.script({
      blocks: [
        { type: 'thinking', text: 'Claude weighed it.', signature: ANTHROPIC_SIGNATURE },
        { type: 'tool_call', id: 'toolu_read1', name: 'read', arguments: { path: 'x' } },
      ],
      stop: 'tool_use',
      usage: { input: 12, output: 9 },
    });
    const answer = await claude.messages.create(ask);
    // Claude's own signature, as Anthropic sent it.
    expect(answer.content[0]).toMatchObject({ type: 'thinking', signature: ANTHROPIC_SIGNATURE });
    const history: Anthropic.MessageParam[] = [
      ...ask.messages,
      { role: 'assistant', content: answer.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_read1', content: 'hello' }] },
    ];

    // Claude Code switched to a Gemini model (`/model`): Gemini refuses another's signature.
    fakes.gemini.script(say('It says hello.'));
    const switched = await claude.messages.create({ ...ask, model: 'gemini/m', messages: history });
    expect(switched.content).toEqual([expect.objectContaining({ text: 'It says hello.' })]);
    expect(fakes.gemini.requests.at(-1)?.raw).not.toContain(ANTHROPIC_SIGNATURE);

    // And to OpenAI, which has nowhere for it.
    fakes.openai.script(say('It says hello.'));
    await claude.messages.create({ ...ask, model: 'openai/m', messages: history });
    expect(fakes.openai.requests.at(-1)?.raw).not.toContain(ANTHROPIC_SIGNATURE);
  });

  it("a Gemini client's own thought signature, moved to a Claude model, is left out there", async () => {
    const history = [
      { role: 'user', parts: [{ text: 'Hello' }] },
      {
        role: 'model',
        parts: [
          { text: 'Gemini weighed it.', thought: true, thoughtSignature: GEMINI_SIGNATURE },
          { text: 'Hello from Gemini.' },
        ],
      },
      { role: 'user', parts: [{ text: 'And you?' }] },
    ];
    fakes.anthropic.script(say('Hello from Claude.'));
    const res = await fetch(`${kw.dataUrl}/v1beta/models/anthropic/m:generateContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': CLIENT_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({
        contents: history,
        generationConfig: { thinkingConfig: { thinkingBudget: 1024 } },
      }),
    });
    expect(res.status).toBe(200);
    expect(fakes.anthropic.requests.at(-1)?.raw).not.toContain(GEMINI_SIGNATURE);
  });

  it('reasoning stored before its signer was recorded goes to any provider as it did then', async () => {
    // An envelope written by an earlier Keyward: text and signature, no signer.
    const legacy = `kwr1.${Buffer.from(JSON.stringify({ t: 'Earlier thought.', s: 'EqQBlegacy' })).toString('base64url')}`;
    fakes.anthropic.script(say('Go on.'));
    await client.responses.create({
      model: 'anthropic/m',
      input: [
        { role: 'user', content: 'Hi' },
        { type: 'reasoning', id: 'rs_legacy', summary: [], encrypted_content: legacy },
        { role: 'assistant', content: 'Hello.' },
        { role: 'user', content: 'Go on.' },
      ],
      reasoning: { effort: 'low' },
      store: false,
    });
    expect(thinkingSentToAnthropic(fakes.anthropic)).toEqual([
      { type: 'thinking', thinking: 'Earlier thought.', signature: 'EqQBlegacy' },
    ]);
  });
});
