import type { AssistantPart, ChatUsage, StopReason, TextPart, TokenLogprob } from '../../canonical/model.js';
import { type Item, newId, type OutputContent } from './items.js';
import { encodeReasoning } from './reasoning-envelope.js';
import type { ResponsesRequest } from './schema.js';

/** The Responses `usage` object. */
export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed';

/** A `response` object as the API sends it and the official SDK parses it. */
export interface ResponseBody {
  id: string;
  object: 'response';
  created_at: number;
  status: ResponseStatus;
  background: false;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: 'max_output_tokens' | 'content_filter' } | null;
  instructions: string | null;
  max_output_tokens: number | null;
  model: string;
  output: Item[];
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  conversation: { id: string } | null;
  reasoning: { effort: string | null; summary: string | null };
  store: boolean;
  temperature: number | null;
  text: { format: Record<string, unknown> };
  tool_choice: unknown;
  tools: unknown[];
  top_p: number | null;
  truncation: 'auto' | 'disabled';
  usage: ResponseUsage | null;
  user: string | null;
  metadata: Record<string, string>;
}

/** What a response echoes of its request, fixed when the request arrives. */
export interface ResponseHead {
  id: string;
  createdAt: number;
  body: ResponsesRequest;
  conversationId: string | null;
}

/** The response object around `output`, before or after the model answered. */
export function responseBody(
  head: ResponseHead,
  model: string,
  output: Item[],
  status: ResponseStatus,
  usage: ChatUsage | null,
  incomplete: ResponseBody['incomplete_details'] = null,
): ResponseBody {
  const { body } = head;
  return {
    id: head.id,
    object: 'response',
    created_at: head.createdAt,
    status,
    background: false,
    error: null,
    incomplete_details: incomplete,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model,
    output,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    conversation: head.conversationId ? { id: head.conversationId } : null,
    reasoning: { effort: body.reasoning?.effort ?? null, summary: body.reasoning?.summary ?? null },
    store: body.store ?? true,
    temperature: body.temperature ?? null,
    text: { format: body.text?.format ?? { type: 'text' } },
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    top_p: body.top_p ?? null,
    truncation: body.truncation ?? 'disabled',
    usage: usage && usageBody(usage),
    user: body.user ?? null,
    metadata: body.metadata ?? {},
  };
}

export function usageBody(usage: ChatUsage): ResponseUsage {
  return {
    input_tokens: usage.inputTokens,
    input_tokens_details: { cached_tokens: usage.cachedTokens ?? 0 },
    output_tokens: usage.outputTokens,
    output_tokens_details: { reasoning_tokens: usage.reasoningTokens ?? 0 },
    total_tokens: usage.inputTokens + usage.outputTokens,
  };
}

/** Whether the request asks for the reasoning's summary (`generate_summary` is its older name). */
export const asksSummary = (body: ResponsesRequest): boolean =>
  (body.reasoning?.summary ?? body.reasoning?.generate_summary) != null;

export const LOGPROBS_INCLUDE = 'message.output_text.logprobs';

/** Whether the answer shows its tokens' log probabilities: when `include` names them, as OpenAI's does. */
export const showsLogprobs = (body: ResponsesRequest): boolean =>
  body.include?.includes(LOGPROBS_INCLUDE) === true;

/**
 * How the answer ended, as the response's status. A refusal the answer holds as a part of its own
 * (OpenAI's) is a completed response, as OpenAI's are; a refusal without one (Anthropic's
 * `refusal`, which may cut the text short) is stopped by the provider's filter.
 */
export function outcome(
  stop: StopReason,
  parts: ReadonlyArray<AssistantPart | undefined>,
): {
  status: ResponseStatus;
  incomplete: ResponseBody['incomplete_details'];
} {
  if (stop === 'max_tokens') return { status: 'incomplete', incomplete: { reason: 'max_output_tokens' } };
  const refusalPart = parts.some((part) => part?.type === 'text' && part.refusal);
  if (stop === 'content_filter' || (stop === 'refusal' && !refusalPart))
    return { status: 'incomplete', incomplete: { reason: 'content_filter' } };
  return { status: 'completed', incomplete: null };
}

/** The output with the item a max-tokens stop cut short (the last) marked so, as OpenAI marks it. */
export function withCutItem(output: Item[], stop: StopReason): Item[] {
  const last = output.at(-1);
  if (stop !== 'max_tokens' || !last) return output;
  return [...output.slice(0, -1), incompleteItem(last)];
}

/** An output item cut short: by the token limit, or by a failure before it ended. */
export function incompleteItem(item: Item): Item {
  return 'status' in item ? ({ ...item, status: 'incomplete' } as Item) : item;
}

/** How an answer's parts are shown: what the request asked of them. */
export interface OutputView {
  /** Thinking as the reasoning's summary (`reasoning.summary`), else as its text. */
  summarized?: boolean;
  /** Text with its tokens' log probabilities (`include` names them). */
  logprobs?: boolean;
}

/** The view a request asks for. */
export const outputView = (body: ResponsesRequest): OutputView => ({
  summarized: asksSummary(body),
  logprobs: showsLogprobs(body),
});

/**
 * One output item per canonical part: text → message (of a `refusal` part for the model's
 * refusal), thinking → reasoning, tool call → function_call (custom_tool_call for a custom tool's).
 */
export function outputItem(part: AssistantPart, id = itemId(part), view: OutputView = {}): Item {
  switch (part.type) {
    case 'text':
      return {
        type: 'message',
        id,
        role: 'assistant',
        status: 'completed',
        content: [outputContent(part, view.logprobs)],
      };
    case 'thinking':
      return {
        type: 'reasoning',
        id,
        ...(view.summarized
          ? { summary: [{ type: 'summary_text', text: part.text }] }
          : { summary: [], content: [{ type: 'reasoning_text', text: part.text }] }),
        encrypted_content: encodeReasoning(part),
      };
    case 'redacted_thinking':
      return { type: 'reasoning', id, summary: [], encrypted_content: encodeReasoning(part) };
    case 'tool_call':
      if (part.custom)
        return {
          type: 'custom_tool_call',
          id,
          call_id: part.id,
          name: part.name,
          input: part.arguments,
          status: 'completed',
        };
      return {
        type: 'function_call',
        id,
        call_id: part.id,
        name: part.name,
        arguments: part.arguments,
        status: 'completed',
      };
  }
}

/**
 * A message's part: the model's refusal, which `responses.parse` does not parse, or its text,
 * with its tokens' log probabilities when `logprobs` (else none, as OpenAI shows them unasked).
 */
export function outputContent(part: TextPart, logprobs = false): OutputContent {
  if (part.refusal) return { type: 'refusal', refusal: part.text };
  return {
    type: 'output_text',
    text: part.text,
    annotations: [],
    logprobs: logprobs && part.logprobs ? part.logprobs.map(outputLogprob) : [],
  };
}

/** A token's log probability as an `output_text` part shows it. */
const outputLogprob = ({ token, logprob, bytes, top }: TokenLogprob) => ({
  token,
  logprob,
  bytes,
  top_logprobs: top,
});

/** As a text event shows it (`response.output_text.delta` and `.done`): without the bytes. */
export const eventLogprob = ({ token, logprob, top }: TokenLogprob) => ({
  token,
  logprob,
  top_logprobs: top.map((likely) => ({ token: likely.token, logprob: likely.logprob })),
});

/**
 * The response as it is stored: without log probabilities, which are the client's answer only.
 * Stored, they would multiply the size of every text (up to 20 alternatives a token) in the
 * response, its conversation and the history replayed (and estimated as input) on later turns.
 */
export function withoutLogprobs(response: ResponseBody): ResponseBody {
  const output = response.output.map((item) =>
    item.type === 'message'
      ? {
          ...item,
          content: item.content.map((part) =>
            part.type === 'output_text' ? { ...part, logprobs: [] } : part,
          ),
        }
      : item,
  );
  return { ...response, output };
}

export function itemId(part: { type: AssistantPart['type']; custom?: true }): string {
  if (part.type === 'text') return newId('msg');
  if (part.type === 'tool_call') return newId(part.custom ? 'ctc' : 'fc');
  return newId('rs');
}

/** The names of the request's custom tools, whose calls may come back in their function form. */
export function customToolNames(body: ResponsesRequest): ReadonlySet<string> {
  const names = new Set<string>();
  for (const tool of body.tools ?? [])
    if (tool.type === 'custom' && 'name' in tool) names.add(String(tool.name));
  return names;
}
