/**
 * Items as the Responses and Conversations APIs show them, and as Keyward stores them: every item
 * has an id, message content is always a list of parts.
 */

export type InputContent = (
  | { type: 'input_text'; text: string }
  | {
      type: 'input_image';
      image_url?: string | null;
      file_id?: string | null;
      detail: 'auto' | 'low' | 'high' | 'original';
      mime_type?: string;
    }
  | {
      type: 'input_file';
      file_data?: string;
      file_id?: string | null;
      file_url?: string;
      filename?: string;
      mime_type?: string;
    }
) & {
  /** OpenAI's explicit prompt-cache breakpoint, kept as the client sent it: a replayed turn keeps it. */
  prompt_cache_breakpoint?: { mode: 'explicit' };
};

export type OutputContent =
  | { type: 'output_text'; text: string; annotations: unknown[]; logprobs?: unknown[] }
  | { type: 'refusal'; refusal: string };

export interface MessageItem {
  type: 'message';
  id: string;
  role: 'user' | 'assistant' | 'system' | 'developer';
  status: 'in_progress' | 'completed' | 'incomplete';
  content: Array<InputContent | OutputContent>;
}

export interface FunctionCallItem {
  type: 'function_call';
  id: string;
  call_id: string;
  name: string;
  arguments: string;
  status: 'in_progress' | 'completed' | 'incomplete';
}

export interface FunctionCallOutputItem {
  type: 'function_call_output';
  id: string;
  call_id: string;
  output: string | InputContent[];
  status: 'in_progress' | 'completed' | 'incomplete';
}

/** A call of a custom (freeform) tool: the model's text as it is, in `input`. */
export interface CustomToolCallItem {
  type: 'custom_tool_call';
  id: string;
  call_id: string;
  name: string;
  input: string;
  status: 'in_progress' | 'completed' | 'incomplete';
}

export interface CustomToolCallOutputItem {
  type: 'custom_tool_call_output';
  id: string;
  call_id: string;
  output: string | InputContent[];
  status: 'in_progress' | 'completed' | 'incomplete';
}

export interface ReasoningItem {
  type: 'reasoning';
  id: string;
  summary: Array<{ type: 'summary_text'; text: string }>;
  content?: Array<{ type: 'reasoning_text'; text: string }>;
  /** The provider's signature over its reasoning (or its encrypted reasoning), replayed as is. */
  encrypted_content?: string | null;
  status?: 'in_progress' | 'completed' | 'incomplete';
}

export type Item =
  | MessageItem
  | FunctionCallItem
  | FunctionCallOutputItem
  | CustomToolCallItem
  | CustomToolCallOutputItem
  | ReasoningItem;

/** A tool call of either kind: what a result must find before it (trims, orphan checks). */
export const isToolCall = (item: Item): item is FunctionCallItem | CustomToolCallItem =>
  item.type === 'function_call' || item.type === 'custom_tool_call';

export const isToolResult = (item: Item): item is FunctionCallOutputItem | CustomToolCallOutputItem =>
  item.type === 'function_call_output' || item.type === 'custom_tool_call_output';

/**
 * The tool results among `items` (oldest first) whose call is neither among the items before them
 * nor in `calledBefore`: every provider refuses a result without its call (OpenAI and Anthropic
 * with a 400), and a call deleted from a conversation leaves its result behind.
 */
export function uncalledResults(items: Iterable<Item>, calledBefore: Iterable<string> = []): Set<Item> {
  const called = new Set(calledBefore);
  const uncalled = new Set<Item>();
  for (const item of items)
    if (isToolCall(item)) called.add(item.call_id);
    else if (isToolResult(item) && !called.has(item.call_id)) uncalled.add(item);
  return uncalled;
}

/**
 * The tool calls among `items` (oldest first) that no later item answers and that are not waiting
 * for the next turn's results: a result deleted from a conversation leaves its call behind, and
 * every provider refuses a call followed by anything but its results (OpenAI and Anthropic with a
 * 400). The calls at the end of the history (after its last message) are the ones the new input
 * answers, and are kept.
 */
export function unansweredCalls(items: readonly Item[]): Set<Item> {
  const answered = new Set<string>();
  const unanswered = new Set<Item>();
  let trailing = true;
  for (let i = items.length - 1; i >= 0; i--) {
    const item = items[i]!;
    if (isToolResult(item)) answered.add(item.call_id);
    else if (isToolCall(item)) {
      if (!trailing && !answered.has(item.call_id)) unanswered.add(item);
    } else if (item.type !== 'reasoning') trailing = false;
  }
  return unanswered;
}

/**
 * `items` (oldest first) as they can be replayed to a provider: without `uncalledResults` and
 * `unansweredCalls` (what is left of a call or a result deleted from a conversation).
 */
export function replayableItems(items: Item[]): Item[] {
  const uncalled = uncalledResults(items);
  const unanswered = unansweredCalls(items);
  if (uncalled.size === 0 && unanswered.size === 0) return items;
  return items.filter((item) => !uncalled.has(item) && !unanswered.has(item));
}
