import type { AssistantPart, ChatRequest, CustomToolFormat, ToolCallPart, ToolDefinition } from './model.js';

/**
 * Custom (freeform) tools, which OpenAI's models call with plain text (a patch, a query) instead of
 * JSON arguments. Only OpenAI's formats have them; to every other format a custom tool goes as a
 * function taking one string parameter, `input`, with its grammar in the description so that the
 * model knows what to write, and the function's calls come back as the custom tool's.
 */

/** The one parameter of a custom tool's function form. */
export const CUSTOM_INPUT = 'input';

const FORMAT_WORDS = { lark: 'the Lark grammar', regex: 'the regular expression' } as const;

/** A custom tool as the canonical form holds it: its function form, and itself for OpenAI. */
export function customToolDefinition(
  name: string,
  description: string | undefined,
  format: CustomToolFormat | undefined,
): ToolDefinition {
  const grammar = format?.type === 'grammar' ? format : undefined;
  const how = grammar
    ? `Call it with the tool's input as the string \`${CUSTOM_INPUT}\`, which must match ${FORMAT_WORDS[grammar.syntax]} below.\n\n${grammar.definition}`
    : `Call it with the tool's input as the string \`${CUSTOM_INPUT}\`.`;
  return {
    name,
    description: description ? `${description}\n\n${how}` : how,
    parameters: {
      type: 'object',
      properties: { [CUSTOM_INPUT]: { type: 'string' } },
      required: [CUSTOM_INPUT],
      additionalProperties: false,
    },
    custom: { ...(description !== undefined && { description }), ...(format && { format }) },
  };
}

/** A call's arguments as JSON: a custom tool's text wrapped as its function form's `input`. */
export const functionArguments = (part: ToolCallPart): string =>
  part.custom ? JSON.stringify({ [CUSTOM_INPUT]: part.arguments }) : part.arguments;

/**
 * The request as a format without custom tools sees it: each custom tool its function form, each
 * replayed call of one its function form's arguments. The request itself when it holds none.
 */
export function asFunctionTools(request: ChatRequest): ChatRequest {
  if (!request.tools?.some((tool) => tool.custom)) return request;
  return {
    ...request,
    tools: request.tools.map(({ custom: _custom, ...tool }) => tool),
    messages: request.messages.map((message) =>
      message.role !== 'assistant'
        ? message
        : {
            ...message,
            content: message.content.map((part) =>
              part.type === 'tool_call' && part.custom
                ? { ...part, arguments: functionArguments(part), custom: undefined }
                : part,
            ),
          },
    ),
  };
}

/**
 * The text of a custom tool's call that came back as a call of its function form: the `input`
 * string of its JSON arguments. The arguments themselves when they are not such an object, so that
 * nothing the model wrote is lost.
 */
export function customInput(json: string): string {
  try {
    const value: unknown = JSON.parse(json);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const input = (value as Record<string, unknown>)[CUSTOM_INPUT];
      if (typeof input === 'string') return input;
    }
  } catch {
    // Not JSON: the model wrote the text itself.
  }
  return json;
}

/** How the function form's arguments open: the text is the string that follows. */
const OPENING = /^\s*\{\s*"input"\s*:\s*"/;
/** JSON's one-letter escapes that are not the character itself (`\"`, `\\`, `\/` are). */
const ESCAPES: Readonly<Record<string, string>> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/**
 * A custom tool's text, read as its function form's JSON arguments stream in, so that the text
 * streams too. Arguments that open as models write them (`{"input": "…`) give their text piece by
 * piece; any others give it whole at the end.
 */
export class CustomInputReader {
  private json = '';
  /** Where the string's next unread character is in `json`; -1 until its opening quote came. */
  private at = -1;
  private closed = false;
  private given = '';

  /** What of the text this piece of the arguments completes. */
  push(piece: string): string {
    this.json += piece;
    if (this.at < 0) {
      const opening = OPENING.exec(this.json);
      if (!opening) return '';
      this.at = opening[0].length;
    }
    let text = '';
    while (!this.closed && this.at < this.json.length) {
      const char = this.json[this.at]!;
      if (char === '"') this.closed = true;
      else if (char !== '\\') {
        text += char;
        this.at++;
      } else {
        // An escape split between pieces waits for the rest of it.
        const escaped = this.json[this.at + 1];
        if (escaped === undefined) break;
        if (escaped !== 'u') {
          text += ESCAPES[escaped] ?? escaped;
          this.at += 2;
          continue;
        }
        const hex = this.json.slice(this.at + 2, this.at + 6);
        if (hex.length < 4) break;
        text += String.fromCharCode(Number.parseInt(hex, 16));
        this.at += 6;
      }
    }
    this.given += text;
    return text;
  }

  /**
   * The whole text, once the arguments are whole, and what of it `push` has not given. When what
   * it gave is not how the text begins (arguments that are not quite JSON), `rest` is empty: the
   * text itself is what counts.
   */
  end(): { input: string; rest: string } {
    const input = customInput(this.json);
    return { input, rest: input.startsWith(this.given) ? input.slice(this.given.length) : '' };
  }
}

/**
 * A call of a custom tool's function form, from a format without custom tools (`custom`: the
 * request's custom tool names), as the custom tool's call, its `input` the text.
 */
export function asCustomCall(part: AssistantPart, custom: ReadonlySet<string>): AssistantPart {
  if (part.type !== 'tool_call' || part.custom || !custom.has(part.name)) return part;
  return { ...part, arguments: customInput(part.arguments), custom: true };
}
