/**
 * The scenario every fake provider plays: what the model "says" and how the exchange goes wrong.
 * One script renders in each wire format, so a test can compare what an SDK assembles from a
 * provider of its own format with what it assembles through the gateway from any other format.
 *
 * Nothing here (or anywhere under fake-providers/) imports from src/: the fakes are an independent
 * reading of the wire formats, so a translation bug in the gateway cannot hide in them.
 */

export type ScriptBlock =
  | { type: 'text'; text: string }
  | { type: 'thinking'; text: string; signature: string }
  | {
      type: 'tool_call';
      id: string;
      name: string;
      arguments: Record<string, unknown>;
      /**
       * OpenAI only: a call of a custom (freeform) tool, with this text as its input
       * (`{type: 'custom', custom: {name, input}}`); `arguments` is then not sent.
       */
      custom?: string;
    };

export type ScriptFault =
  /** Answered before any output, in the format's own error envelope. */
  | {
      kind: 'status';
      status: number;
      retryAfterSeconds?: number;
      /** Gemini's 429s name the quota they hit: requests per minute (the default) or input tokens. */
      quota?: 'requests' | 'input_tokens' | 'input_tokens_daily';
      /** The error's own words and (OpenAI) code and param, in place of the status's usual ones. */
      message?: string;
      code?: string;
      param?: string;
    }
  /** Streaming: destroy the socket after N events (SSE) or lines (NDJSON); otherwise mid-body. */
  | { kind: 'cut'; afterEvents: number }
  /**
   * Streaming: the format's in-stream error after N events; otherwise an error status. `message`
   * and `code` (OpenAI only) are the error's own words and code, as for `status`.
   */
  | {
      kind: 'error_event';
      afterEvents: number;
      status?: number;
      message?: string;
      code?: string;
      param?: string;
    }
  /** Streaming: end cleanly but without the terminal event or marker; ignored otherwise. */
  | { kind: 'no_terminal' }
  /**
   * Streaming: the whole stream, terminal event included, then an in-stream error, a stream held
   * open and silent until the client leaves, or a dropped connection; ignored otherwise.
   */
  | { kind: 'after_terminal'; then: 'error_event' | 'stall' | 'cut' }
  /** Streaming: send N events, then hold the stream open, silent, until the client leaves. */
  | { kind: 'stall'; afterEvents: number }
  /** Take the request and never answer it, not even with headers. */
  | { kind: 'hang' }
  /** Take the request, then drop the connection without a byte of answer. */
  | { kind: 'reset' };

export interface Script {
  /** Message/response id; each format has its own default shape. */
  id?: string;
  /**
   * Model reported back; defaults to the requested model. Gemini only: null leaves out the
   * answer's `modelVersion`, which Gemini does not always send; other formats always name one.
   */
  model?: string | null;
  blocks: ScriptBlock[];
  /**
   * OpenAI only: the model's refusal, in `message.refusal` (streamed as `delta.refusal`), after
   * the text; the finish reason stays `stop`. Other formats have no such field and ignore it.
   */
  refusal?: string;
  /** `refusal`: the model declined (Anthropic's `refusal`, OpenAI's `content_filter`, Gemini's `SAFETY`). */
  stop: 'end' | 'max_tokens' | 'tool_use' | 'stop_sequence' | 'refusal';
  stopSequence?: string;
  /**
   * `input` is the whole input, cached reads and cache writes included; each format renders its
   * own convention. `cacheWrite` (of which `cacheWrite1h` kept an hour) only Anthropic reports.
   */
  usage: {
    input: number;
    output: number;
    cached?: number;
    /**
     * Of `input`, the tokens of audio, and of those `cachedAudio` read from the cache (OpenAI and
     * Gemini report them; Gemini counts the rest of the prompt as text).
     */
    audio?: number;
    cachedAudio?: number;
    /** Of `output`, the tokens of audio the answer spoke (OpenAI's `completion_tokens_details`). */
    audioOutput?: number;
    cacheWrite?: number;
    cacheWrite1h?: number;
    reasoning?: number;
    /** Searches Anthropic's web search tool ran for the answer (only Anthropic reports them). */
    webSearches?: number;
  };
  /**
   * The answer carries no token counts at all (no `usage` from Anthropic, no `usageMetadata` from
   * Gemini, no `prompt_eval_count` or `eval_count` from Ollama), as servers imitating a format may.
   */
  countsOmitted?: true;
  /**
   * Gemini only: the answer was grounded with Google Search, which ran these queries (reported in
   * the candidate's `groundingMetadata`, on the last chunk of a stream).
   */
  grounding?: { queries: string[] };
  /**
   * Gemini streaming only: every chunk carries the usage so far (the prompt's counts, and the
   * candidates' until then), as the Gemini API sends it; otherwise only the last chunk does.
   */
  usageEveryChunk?: true;
  /** Streaming: text, thinking and arguments go out in pieces of this many characters. */
  chunkSize?: number;
  fault?: ScriptFault;
}

const DEFAULT_CHUNK_SIZE = 4;

/** `text` in the pieces a stream sends it in; never empty, so that every block has a delta. */
export function pieces(text: string, script: Script): string[] {
  const size = Math.max(1, script.chunkSize ?? DEFAULT_CHUNK_SIZE);
  const out: string[] = [];
  for (let at = 0; at < text.length; at += size) out.push(text.slice(at, at + size));
  return out.length > 0 ? out : [''];
}

export function textOf(script: Script): string {
  return script.blocks.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('');
}

export function thinkingOf(script: Script): string {
  return script.blocks.flatMap((block) => (block.type === 'thinking' ? [block.text] : [])).join('');
}

export type ToolCallBlock = Extract<ScriptBlock, { type: 'tool_call' }>;

export function toolCallsOf(script: Script): ToolCallBlock[] {
  return script.blocks.filter((block) => block.type === 'tool_call');
}
