/**
 * Items as the Responses and Conversations APIs show them, and as Keyward stores them: every item
 * has an id, message content is always a list of parts.
 */

export type InputContent =
  | { type: 'input_text'; text: string }
  | {
      type: 'input_image';
      image_url?: string | null;
      file_id?: string | null;
      detail: 'auto' | 'low' | 'high' | 'original';
    }
  | { type: 'input_file'; file_data?: string; file_id?: string | null; file_url?: string; filename?: string };

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

/** `items` (oldest first) as they can be replayed to a provider: without `uncalledResults`. */
export function replayableItems(items: Item[]): Item[] {
  const uncalled = uncalledResults(items);
  return uncalled.size === 0 ? items : items.filter((item) => !uncalled.has(item));
}
