import type { ChatRequest } from './model.js';

/** Text runs about four characters per token in the tokenizers of every major provider. */
const CHARS_PER_TOKEN = 4;
/** A mid-sized image costs roughly this many input tokens at OpenAI, Anthropic and Gemini alike. */
const TOKENS_PER_MEDIA = 1_000;

/** What a token estimate counts: characters of text and pieces of media. */
export interface InputSize {
  chars: number;
  media: number;
}

/**
 * An estimate of a request's input tokens, for providers with no counting endpoint (the OpenAI
 * format, Ollama). Good for budgeting a context window, not for billing.
 */
export function estimateInputTokens(request: ChatRequest): number {
  return tokensFor(measureInput(request));
}

/** The tokens `size` is estimated at; sizes of parts add up to the size of the whole. */
export function tokensFor({ chars, media }: InputSize): number {
  return Math.ceil(chars / CHARS_PER_TOKEN) + media * TOKENS_PER_MEDIA;
}

export function measureInput(request: Pick<ChatRequest, 'system' | 'messages' | 'tools'>): InputSize {
  let chars = 0;
  let media = 0;
  for (const part of request.system) chars += part.text.length;
  for (const message of request.messages) {
    for (const part of message.content) {
      switch (part.type) {
        case 'text':
        case 'thinking':
          chars += part.text.length;
          break;
        case 'tool_call':
          chars += part.name.length + part.arguments.length;
          break;
        case 'tool_result':
          for (const inner of part.content) {
            if (inner.type === 'text') chars += inner.text.length;
            else media++;
          }
          break;
        case 'image':
        case 'document':
        case 'audio':
        case 'video':
          media++;
          break;
        case 'redacted_thinking':
          chars += part.data.length;
          break;
      }
    }
  }
  for (const tool of request.tools ?? []) chars += JSON.stringify(tool).length;
  return { chars, media };
}
