import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Script } from '../support/fake-providers/script.js';
import { type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * A tool call deleted from a conversation leaves its result stored; replayed, that result would
 * reach the provider with no call before it, which OpenAI and Anthropic refuse (400) on every
 * later turn. History is replayed without such results, however the turn names it; and without a
 * call whose result was deleted, unless it ends the history (the new input answers it).
 */
const say = (text: string): Script => ({
  blocks: [{ type: 'text', text }],
  stop: 'end',
  usage: { input: 10, output: 5 },
});
const TOOLS = [{ type: 'function' as const, name: 'weather', parameters: { type: 'object' }, strict: false }];
const TOOL_TURN = [
  { type: 'message' as const, role: 'user' as const, content: 'WEATHER-QUESTION' },
  { type: 'function_call' as const, call_id: 'call_9', name: 'weather', arguments: '{}' },
  { type: 'function_call_output' as const, call_id: 'call_9', output: '20C' },
];

type Message = { role: string; content?: unknown; tool_call_id?: string; tool_calls?: Array<{ id: string }> };

/** The tool results a provider was sent whose call it was not sent before them. */
function uncalledResultsSent(format: 'openai' | 'anthropic', body: { messages: Message[] }): string[] {
  const called = new Set<string>();
  const uncalled: string[] = [];
  for (const message of body.messages) {
    if (format === 'openai') {
      for (const call of message.tool_calls ?? []) called.add(call.id);
      if (message.role === 'tool' && !called.has(message.tool_call_id!)) uncalled.push(message.tool_call_id!);
      continue;
    }
    for (const block of Array.isArray(message.content) ? message.content : []) {
      if (block.type === 'tool_use') called.add(block.id);
      if (block.type === 'tool_result' && !called.has(block.tool_use_id)) uncalled.push(block.tool_use_id);
    }
  }
  return uncalled;
}

/** The tool calls a provider was sent that no result answers. */
function unansweredCallsSent(format: 'openai' | 'anthropic', body: { messages: Message[] }): string[] {
  const calls: string[] = [];
  const answered = new Set<string>();
  for (const message of body.messages) {
    if (format === 'openai') {
      for (const call of message.tool_calls ?? []) calls.push(call.id);
      if (message.role === 'tool') answered.add(message.tool_call_id!);
      continue;
    }
    for (const block of Array.isArray(message.content) ? message.content : []) {
      if (block.type === 'tool_use') calls.push(block.id);
      if (block.type === 'tool_result') answered.add(block.tool_use_id);
    }
  }
  return calls.filter((id) => !answered.has(id));
}

describe.each(['openai', 'anthropic'] as const)(
  'a conversation whose tool call was deleted, replayed to %s',
  (format) => {
    let gateway: FormatGateway;
    let client: OpenAI;
    const model = `${format}/m`;

    beforeAll(async () => {
      gateway = await startFormatGateway();
      client = new OpenAI({ baseURL: `${gateway.kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    });
    afterAll(async () => {
      await gateway?.close();
    });

    /** What the provider was sent last; the answer had to come back. */
    const sent = () => {
      const body = gateway.fakes[format].requests.at(-1)!.body as { messages: Message[] };
      expect(JSON.stringify(body)).toContain('WEATHER-QUESTION');
      return uncalledResultsSent(format, body);
    };
    /** A conversation holding a tool turn, its call then deleted (its result stays). */
    const withoutCall = async () => {
      const conversation = await client.conversations.create({ items: TOOL_TURN });
      const items = await client.conversations.items.list(conversation.id, { order: 'asc' });
      const call = items.data.find((item) => item.type === 'function_call')!;
      await client.conversations.items.delete(call.id!, { conversation_id: conversation.id });
      return conversation.id;
    };

    it('a Responses turn in the conversation', async () => {
      const conversation = await withoutCall();
      gateway.fakes[format].script(say('Next answer.'));
      const turn = await client.responses.create({ model, conversation, input: 'next', tools: TOOLS });
      expect(turn.output_text).toBe('Next answer.');
      expect(sent()).toEqual([]);
    });

    it('a Responses turn continuing, by previous_response_id, a response made in the conversation', async () => {
      const conversation = await client.conversations.create({});
      gateway.fakes[format].script(say('It is mild.'), say('Next answer.'));
      const first = await client.responses.create({
        model,
        conversation: conversation.id,
        input: TOOL_TURN,
        tools: TOOLS,
      });
      const items = await client.conversations.items.list(conversation.id, { order: 'asc' });
      const call = items.data.find((item) => item.type === 'function_call')!;
      // Its copy in the response goes with it; the result's copy stays.
      await client.conversations.items.delete(call.id!, { conversation_id: conversation.id });
      const next = await client.responses.create({
        model,
        previous_response_id: first.id,
        input: 'next',
        tools: TOOLS,
      });
      expect(next.output_text).toBe('Next answer.');
      expect(sent()).toEqual([]);
    });

    it('a Responses turn after the result was deleted: its call is not replayed either', async () => {
      const answered = [
        ...TOOL_TURN,
        { type: 'message' as const, role: 'assistant' as const, content: 'It is mild.' },
      ];
      const conversation = await client.conversations.create({ items: answered });
      const items = await client.conversations.items.list(conversation.id, { order: 'asc' });
      const result = items.data.find((item) => item.type === 'function_call_output')!;
      await client.conversations.items.delete(result.id!, { conversation_id: conversation.id });
      gateway.fakes[format].script(say('Next answer.'));
      const turn = await client.responses.create({
        model,
        conversation: conversation.id,
        input: 'next',
        tools: TOOLS,
      });
      expect(turn.output_text).toBe('Next answer.');
      expect(
        unansweredCallsSent(format, gateway.fakes[format].requests.at(-1)!.body as { messages: Message[] }),
      ).toEqual([]);
    });

    it('a Chat Completions turn with x-keyward-conversation', async () => {
      const headers = { 'x-keyward-conversation': await withoutCall() };
      gateway.fakes[format].script(say('Next answer.'));
      const chat = await client.chat.completions.create(
        { model, messages: [{ role: 'user', content: 'next' }] },
        { headers },
      );
      expect(chat.choices[0]!.message.content).toBe('Next answer.');
      expect(sent()).toEqual([]);
    });

    it('an Anthropic Messages turn with x-keyward-conversation', async () => {
      const headers = { 'x-keyward-conversation': await withoutCall() };
      const anthropic = new Anthropic({ baseURL: gateway.kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
      gateway.fakes[format].script(say('Next answer.'));
      const message = await anthropic.messages.create(
        { model, max_tokens: 100, messages: [{ role: 'user', content: 'next' }] },
        { headers },
      );
      expect(message.content[0]).toMatchObject({ type: 'text', text: 'Next answer.' });
      expect(sent()).toEqual([]);
    });
  },
);
