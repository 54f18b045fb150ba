import { CustomInputReader } from '../../canonical/custom-tools.js';
import type { AssistantPart, BlockStart, StreamEncoder, StreamEvent } from '../../canonical/model.js';
import type { GatewayError } from '../../errors/gateway-error.js';
import {
  customToolNames,
  eventLogprob,
  incompleteItem,
  itemId,
  type OutputView,
  outcome,
  outputContent,
  outputItem,
  outputView,
  type ResponseBody,
  type ResponseHead,
  responseBody,
  withCutItem,
} from './from-canonical.js';
import type { Item } from './items.js';

/**
 * Canonical stream events as the Responses API's event stream: `response.created` and
 * `response.in_progress`, then per output item `response.output_item.added`, its content part,
 * its deltas (`response.output_text.delta`, `response.refusal.delta` for the model's refusal,
 * `response.reasoning_text.delta` or, when the request
 * asked for a summary, `response.reasoning_summary_text.delta`,
 * `response.function_call_arguments.delta`, `response.custom_tool_call_input.delta`), their `.done`
 * events and `response.output_item.done`,
 * and last `response.completed` (or `response.incomplete`, or `error` and `response.failed`) with the whole response. Every event
 * carries its `sequence_number`; canonical block indices are the output indices, since blocks are
 * sequential.
 */
export class ResponsesStreamEncoder implements StreamEncoder {
  private sequence = 0;
  private model = '';
  private readonly parts: AssistantPart[] = [];
  private readonly ids: string[] = [];
  /** By index, the blocks that have stopped: a failure cuts short only the others. */
  private readonly stopped: boolean[] = [];
  /**
   * The last stopped block, whose `response.output_item.done` waits for the next event: a
   * max-tokens stop, known only at the finish, marks that item incomplete.
   */
  private held: number | undefined;
  /**
   * Thinking goes out as the reasoning's summary (`reasoning.summary` asked), else as its text;
   * text with its tokens' log probabilities when `include` names them.
   */
  private readonly view: OutputView;
  private readonly customTools: ReadonlySet<string>;
  /**
   * By index, the calls of custom tools that come in their function form (from formats without
   * custom tools): their text is read out of the JSON arguments as they stream.
   */
  private readonly wrapped = new Map<number, CustomInputReader>();

  constructor(
    private readonly head: ResponseHead,
    /** The finished response and its JSON, for storage, before its event goes out. */
    private readonly onComplete: (response: ResponseBody, json: string) => void,
  ) {
    this.view = outputView(head.body);
    this.customTools = customToolNames(head.body);
  }

  event(event: StreamEvent): string {
    switch (event.type) {
      case 'start':
        this.model = event.model || this.head.body.model;
        {
          // Both events carry the same snapshot: serialised once.
          const inner = JSON.stringify({ response: this.snapshot() }).slice(1, -1);
          return this.frame('response.created', inner) + this.frame('response.in_progress', inner);
        }
      case 'block_start':
        return this.blockStart(event.index, event.block);
      case 'block_delta':
        return this.blockDelta(event.index, event.delta);
      case 'block_stop':
        return this.blockStop(event.index);
      case 'finish': {
        const { status, incomplete } = outcome(event.stopReason, this.parts);
        const cut = event.stopReason === 'max_tokens';
        const output = withCutItem(this.items(), event.stopReason);
        const response = responseBody(this.head, this.model, output, status, event.usage, incomplete);
        const json = JSON.stringify(response);
        this.onComplete(response, json);
        return (
          this.release(cut) +
          this.frame(
            status === 'completed' ? 'response.completed' : 'response.incomplete',
            `"response":${json}`,
          )
        );
      }
    }
  }

  /**
   * A failure after the stream began: the `error` event, then `response.failed` with what was
   * generated so far, so that a client waiting for a terminal event (as the SDKs' stream helpers
   * do) gets one. A failed response is not stored.
   */
  error(error: GatewayError): string {
    const done = this.release(false);
    // An answer past the size bound is what failed: sent again whole, it made one event line of
    // that size, which the SDKs' line readers worked through for minutes.
    const output =
      error.code === 'provider_answer_too_large'
        ? []
        : this.parts.flatMap((part, index) =>
            part ? [this.stopped[index] ? this.item(index) : incompleteItem(this.item(index))] : [],
          );
    const response: ResponseBody = {
      ...responseBody(this.head, this.model, output, 'failed', null),
      error: {
        code: error.status === 429 ? 'rate_limit_exceeded' : 'server_error',
        message: error.message,
      },
    };
    return (
      done +
      this.emit('error', { code: error.code, message: error.message, param: error.param }) +
      this.emit('response.failed', { response })
    );
  }

  private blockStart(index: number, block: Extract<StreamEvent, { type: 'block_start' }>['block']): string {
    const part: AssistantPart =
      block.type === 'text'
        ? { type: 'text', text: '', ...(block.refusal && { refusal: true }) }
        : block.type === 'thinking'
          ? { ...block, text: '' }
          : block.type === 'redacted_thinking'
            ? { ...block }
            : this.toolCall(index, block);
    this.parts[index] = part;
    this.ids[index] = itemId(part);
    const item = { ...this.item(index), status: 'in_progress' };
    if (item.type === 'message') item.content = [];
    if (item.type === 'reasoning') {
      if (this.view.summarized) item.summary = [];
      else item.content = [];
    }
    let out = this.release(false) + this.emit('response.output_item.added', { output_index: index, item });
    if (part.type === 'text') out += this.partEvent('added', index, outputContent(part));
    if (part.type === 'thinking') {
      out += this.view.summarized
        ? this.summaryPartEvent('added', index, '')
        : this.partEvent('added', index, { type: 'reasoning_text', text: '' });
    }
    return out;
  }

  private blockDelta(index: number, delta: Extract<StreamEvent, { type: 'block_delta' }>['delta']): string {
    const part = this.parts[index];
    const itemId = this.ids[index];
    if (delta.type === 'text' && part?.type === 'text' && part.refusal) {
      part.text += delta.text;
      return this.emit('response.refusal.delta', {
        item_id: itemId,
        output_index: index,
        content_index: 0,
        delta: delta.text,
      });
    }
    if (delta.type === 'text' && part?.type === 'text') {
      part.text += delta.text;
      const logprobs = this.view.logprobs ? delta.logprobs : undefined;
      if (logprobs) {
        part.logprobs ??= [];
        part.logprobs.push(...logprobs);
      }
      // The commonest event, written out: the id is generated and the index a number, so only
      // the text (and log probabilities, when asked) needs JSON's quoting.
      return this.frame(
        'response.output_text.delta',
        `"item_id":"${itemId}","output_index":${index},"content_index":0,"delta":${JSON.stringify(delta.text)},"logprobs":${logprobs ? JSON.stringify(logprobs.map(eventLogprob)) : '[]'}`,
      );
    }
    if (delta.type === 'thinking' && part?.type === 'thinking') {
      part.text += delta.text;
      if (this.view.summarized)
        return this.emit('response.reasoning_summary_text.delta', {
          item_id: itemId,
          output_index: index,
          summary_index: 0,
          delta: delta.text,
        });
      return this.emit('response.reasoning_text.delta', {
        item_id: itemId,
        output_index: index,
        content_index: 0,
        delta: delta.text,
      });
    }
    if (delta.type === 'signature' && part?.type === 'thinking') {
      part.signature = (part.signature ?? '') + delta.signature;
      return '';
    }
    if (delta.type === 'arguments' && part?.type === 'tool_call' && part.custom) {
      const text = this.wrapped.get(index)?.push(delta.json) ?? delta.json;
      part.arguments += text;
      return text ? this.customDelta(index, text) : '';
    }
    if (delta.type === 'arguments' && part?.type === 'tool_call') {
      part.arguments += delta.json;
      return this.emit('response.function_call_arguments.delta', {
        item_id: itemId,
        output_index: index,
        delta: delta.json,
      });
    }
    return '';
  }

  private blockStop(index: number): string {
    const part = this.parts[index];
    if (!part) return '';
    const itemId = this.ids[index];
    let out = '';
    if (part.type === 'text' && part.refusal) {
      out += this.emit('response.refusal.done', {
        item_id: itemId,
        output_index: index,
        content_index: 0,
        refusal: part.text,
      });
      out += this.partEvent('done', index, outputContent(part));
    } else if (part.type === 'text') {
      out += this.emit('response.output_text.done', {
        item_id: itemId,
        output_index: index,
        content_index: 0,
        text: part.text,
        logprobs: this.view.logprobs ? (part.logprobs ?? []).map(eventLogprob) : [],
      });
      out += this.partEvent('done', index, outputContent(part, this.view.logprobs));
    } else if (part.type === 'thinking' && this.view.summarized) {
      out += this.emit('response.reasoning_summary_text.done', {
        item_id: itemId,
        output_index: index,
        summary_index: 0,
        text: part.text,
      });
      out += this.summaryPartEvent('done', index, part.text);
    } else if (part.type === 'thinking') {
      out += this.emit('response.reasoning_text.done', {
        item_id: itemId,
        output_index: index,
        content_index: 0,
        text: part.text,
      });
      out += this.partEvent('done', index, { type: 'reasoning_text', text: part.text });
    } else if (part.type === 'tool_call' && part.custom) {
      const read = this.wrapped.get(index)?.end();
      if (read) {
        part.arguments = read.input;
        if (read.rest) out += this.customDelta(index, read.rest);
      }
      out += this.emit('response.custom_tool_call_input.done', {
        item_id: itemId,
        output_index: index,
        input: part.arguments,
      });
    } else if (part.type === 'tool_call') {
      out += this.emit('response.function_call_arguments.done', {
        item_id: itemId,
        output_index: index,
        name: part.name,
        arguments: part.arguments,
      });
    }
    this.stopped[index] = true;
    this.held = index;
    return out;
  }

  /** The held `response.output_item.done`, its item `cut` short by the token limit or not. */
  private release(cut: boolean): string {
    const index = this.held;
    if (index === undefined) return '';
    this.held = undefined;
    const item = this.item(index);
    return this.emit('response.output_item.done', {
      output_index: index,
      item: cut ? incompleteItem(item) : item,
    });
  }

  /** A tool call's part; a custom tool's call is one whether or not its block says so. */
  private toolCall(index: number, block: Extract<BlockStart, { type: 'tool_call' }>): AssistantPart {
    const custom = block.custom || this.customTools.has(block.name);
    if (custom && !block.custom) this.wrapped.set(index, new CustomInputReader());
    return {
      type: 'tool_call',
      id: block.id,
      name: block.name,
      arguments: '',
      ...(custom && { custom: true }),
    };
  }

  private customDelta(index: number, text: string): string {
    return this.emit('response.custom_tool_call_input.delta', {
      item_id: this.ids[index],
      output_index: index,
      delta: text,
    });
  }

  private partEvent(stage: 'added' | 'done', index: number, part: unknown): string {
    return this.emit(`response.content_part.${stage}`, {
      item_id: this.ids[index],
      output_index: index,
      content_index: 0,
      part,
    });
  }

  private summaryPartEvent(stage: 'added' | 'done', index: number, text: string): string {
    return this.emit(`response.reasoning_summary_part.${stage}`, {
      item_id: this.ids[index],
      output_index: index,
      summary_index: 0,
      part: { type: 'summary_text', text },
    });
  }

  private item(index: number): Item {
    return outputItem(this.parts[index]!, this.ids[index], this.view);
  }

  private items(): Item[] {
    return this.parts.flatMap((part, index) => (part ? [outputItem(part, this.ids[index], this.view)] : []));
  }

  private snapshot(): ResponseBody {
    return responseBody(this.head, this.model, [], 'in_progress', null);
  }

  /**
   * One event, `type` first and `sequence_number` last as OpenAI orders them. Spliced around the
   * fields' own JSON rather than spread into a new object: an object built by spreading another
   * takes JSON.stringify's slow path, which made the deltas five times dearer.
   */
  private emit(type: EventType, fields: Record<string, unknown>): string {
    return this.frame(type, JSON.stringify(fields).slice(1, -1));
  }

  /** An event around `inner`, the JSON of its fields without their braces. */
  private frame(type: EventType, inner: string): string {
    const data = `{"type":"${type}",${inner}${inner ? ',' : ''}"sequence_number":${this.sequence++}}`;
    return `event: ${type}\ndata: ${data}\n\n`;
  }
}

/** The Responses stream's event types: Keyward's own constants, which JSON needs no escaping for. */
type EventType =
  | 'error'
  | `response.${'created' | 'in_progress' | 'completed' | 'incomplete' | 'failed'}`
  | `response.output_item.${'added' | 'done'}`
  | `response.content_part.${'added' | 'done'}`
  | `response.reasoning_summary_part.${'added' | 'done'}`
  | `response.reasoning_summary_text.${'delta' | 'done'}`
  | `response.${'output_text' | 'refusal' | 'reasoning_text' | 'function_call_arguments' | 'custom_tool_call_input'}.${'delta' | 'done'}`;
