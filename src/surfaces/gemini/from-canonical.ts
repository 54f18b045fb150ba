import { shownSignature } from '../../canonical/foreign-signature.js';
import type {
  AssistantPart,
  ChatResponse,
  ChatUsage,
  StopReason,
  StreamEncoder,
  StreamEvent,
  ThinkingPart,
} from '../../canonical/model.js';
import { isRecord } from '../../providers/index.js';
import { encodeReasoning } from '../responses/reasoning-envelope.js';

/**
 * Canonical answers as Gemini's `GenerateContentResponse`: one candidate whose content is the
 * model's parts (`text`, `thought` text with its `thoughtSignature`, `functionCall` with its
 * arguments as an object), its `finishReason`, and `usageMetadata` (thoughts counted apart from
 * the candidates' tokens, as Gemini does). Another format's signature is shown behind its signer's
 * name (`shownSignature`): sent back, it returns to its signer and is kept from Gemini, which
 * refuses the whole request over it.
 *
 * Thoughts are shown only when `thinkingConfig.includeThoughts` asks, as Gemini shows them. A
 * hidden thought another format signed goes as an empty text carrying a signature that holds the
 * thought (`hiddenThought`): its signer checks the text against the signature, and the client has
 * no text to send back. Sent back, it is that thinking again; to Gemini it is left out.
 */

type Part = Record<string, unknown>;

const FINISH_REASONS: Record<StopReason, string> = {
  end_turn: 'STOP',
  stop_sequence: 'STOP',
  tool_use: 'STOP',
  pause_turn: 'STOP',
  max_tokens: 'MAX_TOKENS',
  content_filter: 'SAFETY',
  refusal: 'SAFETY',
};

function usageMetadata(usage: ChatUsage): Record<string, number> {
  const thoughts = usage.reasoningTokens ?? 0;
  return {
    promptTokenCount: usage.inputTokens,
    candidatesTokenCount: usage.outputTokens - thoughts,
    totalTokenCount: usage.inputTokens + usage.outputTokens,
    ...(usage.cachedTokens ? { cachedContentTokenCount: usage.cachedTokens } : {}),
    ...(thoughts > 0 && { thoughtsTokenCount: thoughts }),
  };
}

/** Arguments are JSON text in the canonical form and an object in Gemini's. */
function args(text: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text || '{}');
    return isRecord(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

/**
 * The part a hidden thought leaves: its text and signature in the Responses surface's envelope
 * (`kwr1.`, readable, as a shown thought is), shown as its signer's. Gemini's own signature needs
 * no text, but its thoughts never come translated; unsigned thinking has nothing to go back to.
 */
function hiddenThought(thinking: ThinkingPart): Part | undefined {
  const { signedBy } = thinking;
  const envelope = signedBy === undefined || signedBy === 'gemini' ? null : encodeReasoning(thinking);
  return envelope === null
    ? undefined
    : { text: '', thoughtSignature: shownSignature(envelope, signedBy, 'gemini') };
}

function part(content: AssistantPart, thoughts: boolean): Part | undefined {
  switch (content.type) {
    case 'text':
      return { text: content.text };
    case 'thinking':
      if (!thoughts) return hiddenThought(content);
      return {
        text: content.text,
        thought: true,
        ...(content.signature !== undefined && {
          thoughtSignature: shownSignature(content.signature, content.signedBy, 'gemini'),
        }),
      };
    // Only Gemini signs function calls: a call's signature is always Gemini's own.
    case 'tool_call':
      return {
        functionCall: { id: content.id, name: content.name, args: args(content.arguments) },
        ...(content.signature !== undefined && { thoughtSignature: content.signature }),
      };
    // Another provider's encrypted reasoning: nothing a Gemini client could send back usefully.
    case 'redacted_thinking':
      return undefined;
  }
}

function chunk(parts: Part[], model: string, id: string, finish?: { reason: StopReason; usage: ChatUsage }) {
  return {
    candidates: [
      {
        content: { role: 'model', parts },
        ...(finish && { finishReason: FINISH_REASONS[finish.reason] }),
        index: 0,
      },
    ],
    ...(finish && { usageMetadata: usageMetadata(finish.usage) }),
    modelVersion: model,
    responseId: id,
  };
}

export function geminiResponse(response: ChatResponse, thoughts: boolean): Record<string, unknown> {
  const parts = response.content.flatMap((content): Part[] => {
    const out = part(content, thoughts);
    return out ? [out] : [];
  });
  return chunk(parts, response.model, response.id, { reason: response.stopReason, usage: response.usage });
}

/**
 * Canonical stream events as Gemini's SSE stream (`alt=sse`): a `data:` chunk per text or thought
 * delta, each function call whole once its arguments are complete (Gemini never streams them in
 * pieces), a thought's signature with its last piece, and last a chunk with the finish reason and
 * the usage.
 */
export class GeminiStreamEncoder implements StreamEncoder {
  private model = '';
  private id = '';
  private readonly open = new Map<number, AssistantPart>();

  /** `thoughts`: the client asked for them (`includeThoughts`). */
  constructor(private readonly thoughts: boolean) {}

  event(event: StreamEvent): string {
    switch (event.type) {
      case 'start':
        this.model = event.model;
        this.id = event.id;
        return '';
      case 'block_start':
        if (event.block.type === 'tool_call') {
          const { id, name, signature } = event.block;
          this.open.set(event.index, {
            type: 'tool_call',
            id,
            name,
            arguments: '',
            ...(signature && { signature }),
          });
        } else if (event.block.type === 'thinking') {
          const { signedBy } = event.block;
          this.open.set(event.index, { type: 'thinking', text: '', ...(signedBy && { signedBy }) });
        }
        return '';
      case 'block_delta':
        return this.delta(event.index, event.delta);
      case 'block_stop': {
        const pending = this.open.get(event.index);
        this.open.delete(event.index);
        if (pending?.type === 'tool_call') return this.send([part(pending, this.thoughts)!]);
        if (pending?.type === 'thinking' && !this.thoughts) {
          const hidden = hiddenThought(pending);
          return hidden ? this.send([hidden]) : '';
        }
        if (pending?.type === 'thinking' && pending.signature !== undefined)
          return this.send([
            {
              text: '',
              thought: true,
              thoughtSignature: shownSignature(pending.signature, pending.signedBy, 'gemini'),
            },
          ]);
        return '';
      }
      case 'finish':
        // An empty text, as Gemini's own last chunk often carries: without a part, @google/genai's
        // chat holds the chunk invalid and keeps none of the turn. Sent back, it adds nothing.
        return this.send([{ text: '' }], { reason: event.stopReason, usage: event.usage });
    }
  }

  private delta(index: number, delta: Extract<StreamEvent, { type: 'block_delta' }>['delta']): string {
    const pending = this.open.get(index);
    switch (delta.type) {
      case 'text':
        return this.send([{ text: delta.text }]);
      case 'thinking':
        if (this.thoughts) return this.send([{ text: delta.text, thought: true }]);
        // Kept whole for the signature that holds it (`hiddenThought`).
        if (pending?.type === 'thinking') pending.text += delta.text;
        return '';
      case 'signature':
        if (pending?.type === 'thinking') pending.signature = (pending.signature ?? '') + delta.signature;
        return '';
      case 'arguments':
        if (pending?.type === 'tool_call') pending.arguments += delta.json;
        return '';
    }
  }

  private send(parts: Part[], finish?: { reason: StopReason; usage: ChatUsage }): string {
    return `data: ${JSON.stringify(chunk(parts, this.model, this.id, finish))}\r\n\r\n`;
  }
}
