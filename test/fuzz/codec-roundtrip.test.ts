import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChatRequest, Message } from '../../src/canonical/model.js';
import { encodeAnthropicRequest } from '../../src/providers/anthropic/codec.js';
import { createOpenAIChatCodec } from '../../src/providers/openai/codec.js';
import { anthropicSurface } from '../../src/surfaces/anthropic/canonical.js';
import { parseMessagesRequest } from '../../src/surfaces/anthropic/validate.js';
import { openAISurface } from '../../src/surfaces/openai/canonical.js';
import { parseChatRequest } from '../../src/surfaces/openai/validate.js';

/**
 * Request round trips through the codecs: a canonical request encoded for a provider format must
 * be a body the gateway's own strict schema for that format accepts, and must decode back to the
 * same canonical request. An encoder that emits what the real API would refuse, or that drops or
 * reorders content, fails here.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 60) * 5;

/** Anthropic refuses text of only whitespace, and its encoder drops it on purpose: not generated. */
const text = fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }).filter((t) => t.trim() !== '');
const callId = fc.stringMatching(/^[a-z0-9]{4,12}$/).map((s) => `call_${s}`);
const toolName = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,20}$/);
const args = fc
  .dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 })
  .map((value) => JSON.stringify(value));

/** A conversation as both formats can carry it: text turns, tool calls answered by their results. */
const conversation: fc.Arbitrary<Message[]> = fc
  .array(
    fc.oneof(
      fc.record({ kind: fc.constant('text' as const), user: text, assistant: text }),
      fc.record({
        kind: fc.constant('tool' as const),
        calls: fc.uniqueArray(fc.record({ id: callId, name: toolName, arguments: args, result: text }), {
          minLength: 1,
          maxLength: 3,
          selector: (c) => c.id,
        }),
      }),
    ),
    { minLength: 0, maxLength: 4 },
  )
  .chain((turns) =>
    text.map((last): Message[] => [
      ...turns.flatMap((turn): Message[] =>
        turn.kind === 'text'
          ? [
              { role: 'user', content: [{ type: 'text', text: turn.user }] },
              { role: 'assistant', content: [{ type: 'text', text: turn.assistant }] },
            ]
          : [
              { role: 'user', content: [{ type: 'text', text: 'go' }] },
              {
                role: 'assistant',
                content: turn.calls.map((c) => ({
                  type: 'tool_call' as const,
                  id: c.id,
                  name: c.name,
                  arguments: c.arguments,
                })),
              },
              {
                role: 'user',
                content: turn.calls.map((c) => ({
                  type: 'tool_result' as const,
                  toolCallId: c.id,
                  content: [{ type: 'text' as const, text: c.result }],
                })),
              },
              { role: 'assistant', content: [{ type: 'text', text: 'done' }] },
            ],
      ),
      { role: 'user', content: [{ type: 'text', text: last }] },
    ]),
  );

const requestArb: fc.Arbitrary<ChatRequest> = fc.record(
  {
    model: fc.constant('some-model'),
    system: fc.array(
      text.map((t) => ({ type: 'text' as const, text: t })),
      { maxLength: 1 },
    ),
    messages: conversation,
    tools: fc.uniqueArray(
      fc.record({
        name: toolName,
        description: text,
        parameters: fc.constant({ type: 'object', properties: {} }),
      }),
      { minLength: 1, maxLength: 3, selector: (t) => t.name },
    ),
    maxTokens: fc.integer({ min: 1, max: 100_000 }),
    temperature: fc.double({ min: 0, max: 1, noNaN: true }),
    topP: fc.double({ min: 0, max: 1, noNaN: true }),
    stop: fc.array(
      fc.string({ minLength: 1, maxLength: 8 }).filter((t) => t.trim() !== ''),
      {
        minLength: 1,
        maxLength: 4,
      },
    ),
    stream: fc.boolean(),
  },
  { requiredKeys: ['model', 'system', 'messages', 'maxTokens', 'stream'] },
);

/** The fields both formats carry, in a form that ignores how each spells them. */
function essentials(request: ChatRequest) {
  return {
    system: request.system.map((p) => p.text).join('\n'),
    messages: request.messages.map((m) => ({
      role: m.role,
      content: m.content.map((part) => {
        if (part.type === 'tool_call')
          return { call: part.id, name: part.name, args: JSON.parse(part.arguments) };
        if (part.type === 'tool_result') return { result: part.toolCallId, content: part.content };
        return part;
      }),
    })),
    tools: request.tools?.map((t) => ({ name: t.name, description: t.description })),
    maxTokens: request.maxTokens,
    temperature: request.temperature,
    topP: request.topP,
    stop: request.stop,
    stream: request.stream,
  };
}

function withoutBothSamplers(request: ChatRequest): ChatRequest {
  if (request.temperature === undefined || request.topP === undefined) return request;
  const { topP: _dropped, ...rest } = request;
  return rest;
}

describe('codec request round trips', () => {
  const openai = createOpenAIChatCodec({
    pathFor: () => '/v1/chat/completions',
    streamUsage: false,
    customTools: true,
    maxTokensField: 'max_completion_tokens',
    openAIServer: true,
  });

  it('OpenAI: what the encoder sends is a valid Chat Completions body that decodes back unchanged', () => {
    fc.assert(
      fc.property(requestArb, (request) => {
        const body = JSON.parse(openai.encodeRequest(request).body);
        const back = openAISurface.toCanonical(parseChatRequest(body));
        expect(essentials(back)).toEqual(essentials(request));
      }),
      { numRuns: RUNS },
    );
  });

  it('Anthropic: what the encoder sends is a valid Messages body that decodes back unchanged', () => {
    fc.assert(
      // Current Claude models refuse temperature and top_p together; the encoder keeps one on purpose.
      fc.property(requestArb.map(withoutBothSamplers), (request) => {
        const body = encodeAnthropicRequest(request, {});
        const back = anthropicSurface.toCanonical(parseMessagesRequest({ model: request.model, ...body }));
        expect(essentials(back)).toEqual(essentials(request));
      }),
      { numRuns: RUNS },
    );
  });
});
