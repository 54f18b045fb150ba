import { shownSignature } from '../../canonical/foreign-signature.js';
import type { AssistantPart, MediaSource, Message, StreamEvent, UserPart } from '../../canonical/model.js';
import { outputItem } from './from-canonical.js';
import type { InputContent, Item } from './items.js';
import { newId } from './items.js';

/**
 * Canonical turns as stored items, for clients of the Chat Completions and Messages surfaces that
 * keep their history in a Keyward conversation (`x-keyward-conversation`).
 */
export function messagesToItems(messages: readonly Message[]): Item[] {
  return messages.flatMap((message) =>
    message.role === 'assistant'
      ? message.content.map((part) => outputItem(part))
      : userItems(message.content),
  );
}

function userItems(parts: readonly UserPart[]): Item[] {
  const items: Item[] = [];
  let content: InputContent[] = [];
  const flush = () => {
    if (content.length === 0) return;
    items.push({ type: 'message', id: newId('msg'), role: 'user', status: 'completed', content });
    content = [];
  };
  for (const part of parts) {
    if (part.type !== 'tool_result') {
      content.push(inputContent(part));
      continue;
    }
    flush();
    items.push({
      type: 'function_call_output',
      id: newId('fco'),
      call_id: part.toolCallId,
      output: part.content.map(inputContent),
      status: 'completed',
    });
  }
  flush();
  return items;
}

function inputContent(part: Exclude<UserPart, { type: 'tool_result' }>): InputContent {
  if (part.type === 'text') return { type: 'input_text', text: part.text };
  const { source } = part;
  // A data URL says its type; a URL or file reference keeps the one its client stated (`mime_type`).
  const typed = source.kind !== 'base64' && source.mediaType !== undefined && { mime_type: source.mediaType };
  if (part.type === 'image') {
    return source.kind === 'file'
      ? { type: 'input_image', file_id: fileId(source), detail: part.detail ?? 'auto', ...typed }
      : { type: 'input_image', image_url: url(source), detail: part.detail ?? 'auto', ...typed };
  }
  // Audio and video are stored as files of their type, which reading them back tells apart.
  const named = part.filename !== undefined ? { filename: part.filename } : {};
  if (source.kind === 'file') return { type: 'input_file', file_id: fileId(source), ...named, ...typed };
  if (source.kind === 'url') return { type: 'input_file', file_url: source.url, ...named, ...typed };
  return { type: 'input_file', file_data: url(source), ...named };
}

/** Another format's file id keeps its issuer, wrapped as another's signature is (`shownSignature`). */
const fileId = (source: Extract<MediaSource, { kind: 'file' }>): string =>
  shownSignature(source.fileId, source.issuer, 'openai');

function url(source: Exclude<MediaSource, { kind: 'file' }>): string {
  return source.kind === 'url' ? source.url : `data:${source.mediaType};base64,${source.data}`;
}

/** The answer a canonical stream carries, assembled as it passes. */
export class AnswerAccumulator {
  readonly parts: AssistantPart[] = [];

  add(event: StreamEvent): void {
    if (event.type === 'block_start') {
      const { block } = event;
      this.parts[event.index] =
        block.type === 'tool_call'
          ? {
              type: 'tool_call',
              id: block.id,
              name: block.name,
              arguments: '',
              ...(block.custom && { custom: true }),
            }
          : block.type === 'redacted_thinking'
            ? block
            : { ...block, text: '' };
      return;
    }
    if (event.type !== 'block_delta') return;
    const part = this.parts[event.index];
    const { delta } = event;
    if (delta.type === 'arguments' && part?.type === 'tool_call') part.arguments += delta.json;
    else if (delta.type === 'signature' && part?.type === 'thinking')
      part.signature = (part.signature ?? '') + delta.signature;
    else if (
      (delta.type === 'text' || delta.type === 'thinking') &&
      (part?.type === 'text' || part?.type === 'thinking')
    )
      part.text += delta.text;
  }
}
