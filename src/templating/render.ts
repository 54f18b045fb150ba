import type { ParamValue } from './params.js';
import { SLOT } from './schema.js';

/** A template text split once, at definition time, into literal text and slots. */
export type CompiledText = ReadonlyArray<{ text: string } | { slot: string }>;

export function compileText(source: string): CompiledText {
  const parts: Array<{ text: string } | { slot: string }> = [];
  let at = 0;
  for (const match of source.matchAll(SLOT)) {
    if (match.index > at) parts.push({ text: source.slice(at, match.index) });
    parts.push({ slot: match[1]! });
    at = match.index + match[0].length;
  }
  if (at < source.length) parts.push({ text: source.slice(at) });
  return parts;
}

/**
 * Substitution and nothing else: each slot takes its value as plain data, and the result is never
 * scanned again, so a `{{x}}` inside a value stays literal text. An optional parameter left out
 * renders as nothing.
 */
export function renderText(parts: CompiledText, values: ReadonlyMap<string, ParamValue>): string {
  let out = '';
  for (const part of parts) out += 'text' in part ? part.text : String(values.get(part.slot) ?? '');
  return out;
}
