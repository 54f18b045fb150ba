import { describe, expect, it } from 'vitest';
import type { ChatRequest } from '../../src/canonical/model.js';
import { estimateInputTokens } from '../../src/canonical/token-estimate.js';
import type { Item } from '../../src/conversations/items.js';
import { fitToContext } from '../../src/surfaces/responses/truncation.js';

const message = (role: 'user' | 'assistant', text: string): Item => ({
  type: 'message',
  id: `msg_${text}`,
  role,
  status: 'completed',
  content: [role === 'user' ? { type: 'input_text', text } : { type: 'output_text', text, annotations: [] }],
});

/** A request of the history's text and a fixed input of 400 characters (about 100 tokens). */
const build = (history: readonly Item[]): ChatRequest => ({
  model: 'm',
  system: [],
  stream: false,
  maxTokens: 100,
  messages: [...history, message('user', 'q'.repeat(400))].map((item) => {
    const text = item.type === 'message' ? (item.content[0] as { text: string }).text : '';
    return {
      role: item.type === 'message' && item.role === 'assistant' ? 'assistant' : 'user',
      content: [{ type: 'text', text }],
    };
  }),
});

describe("truncation: 'auto'", () => {
  // 300 turns of a 400-character question (about 100 tokens) and a 400-character answer.
  const history: Item[] = [];
  for (let turn = 0; turn < 300; turn++)
    history.push(
      message('user', `${turn}:${'u'.repeat(398)}`),
      message('assistant', `${turn}:${'a'.repeat(398)}`),
    );

  it('keeps the most recent whole turns that fit, beginning with a user message', () => {
    // 2,024 tokens of room for input: the 100-token input and 9 turns of about 200 fit, 10 do not.
    const request = fitToContext(build, history, [], 'auto', 2_124);
    const kept = request.messages.slice(0, -1);
    expect(kept).toHaveLength(18);
    expect(kept[0]!.role).toBe('user');
    expect((kept[0]!.content[0] as { text: string }).text.startsWith('291:')).toBe(true);
    expect(estimateInputTokens(build(history.slice(-20)))).toBeGreaterThan(2_024);
  });

  it('keeps everything that fits, and refuses what does not fit even with no history', () => {
    expect(fitToContext(build, history, [], 'auto', 1_000_000).messages).toHaveLength(601);
    expect(() => fitToContext(build, history, [], 'auto', 150)).toThrow(
      /exceeds the context window of 50 tokens/,
    );
    expect(() => fitToContext(build, history, [], 'disabled', 2_124)).toThrow(/truncation: 'auto'/);
  });
});
