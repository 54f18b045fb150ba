import { randomUUID } from 'node:crypto';
import {
  type AudioVideoPart,
  type ChatRequest,
  type ChatUsage,
  type FileIssuer,
  type MediaSource,
  UnsupportedFeature,
} from '../canonical/model.js';

/** Readers and writers of provider JSON (whose shape is never trusted), shared by every codec. */

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The JSON object that `text` holds; undefined for anything else, malformed JSON included. */
export function jsonObject(text: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return isRecord(value) ? value : undefined;
}

export const nonEmptyString = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;

/**
 * The most tokens a count may say: a million times any context window, and small enough that a
 * count times any price and multiplier stays a whole number SQLite's INTEGER holds.
 */
const MOST_TOKENS = 2 ** 40;

/**
 * A token count the provider sent, as a whole number from 0 to MOST_TOKENS: a fraction is rounded
 * up, one past the bound is the bound; undefined for no number, a negative one or NaN. Taken as
 * sent, `11.5` stopped every later usage batch from being written (SQLite refuses a REAL in an
 * INTEGER column) and `-1000000` paid a budget back a dollar.
 */
export function tokenCount(value: unknown): number | undefined {
  if (typeof value !== 'number' || !(value >= 0)) return undefined;
  return Math.min(Math.ceil(value), MOST_TOKENS);
}

/** A token count, or 0 where the provider sent none or nonsense. */
export const count = (value: unknown): number => tokenCount(value) ?? 0;

/** An answer that carries no token count: charged its reservation, not these zeros. */
export const unreportedUsage = (): ChatUsage => ({ inputTokens: 0, outputTokens: 0, unreported: true });

/** An id for a tool call the provider gave none: the canonical form needs one to match results. */
export const generatedCallId = (): string => `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`;

/**
 * Tool call arguments (JSON text in the canonical form) as the JSON object that Anthropic, Gemini
 * and Ollama carry; empty text is no arguments. Throws UnsupportedFeature naming `param`.
 */
export function argumentsObject(text: string, provider: string, param: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  const value = jsonObject(text);
  if (!value) throw new UnsupportedFeature(`${provider} needs tool call arguments as a JSON object`, param);
  return value;
}

/**
 * Refuses more stop sequences than a provider takes (OpenAI and Azure 4, Gemini 5): sent, they
 * came back as the provider's own 400, which the client is never shown. Throws UnsupportedFeature
 * naming `stop`, which each surface names as its client sent it.
 */
export function refuseStopsPast(stop: readonly string[] | undefined, limit: number, provider: string): void {
  if (stop !== undefined && stop.length > limit) {
    throw new UnsupportedFeature(`${provider} takes at most ${limit} stop sequences`, 'stop');
  }
}

/**
 * Refuses a request for token log probabilities (`ChatRequest.logprobs`) to a provider whose
 * codec reads none (Gemini's `logprobsResult` and Ollama's are not translated; Anthropic has
 * none): answered without them, the answer is not the one asked for. Throws UnsupportedFeature
 * naming `logprobs`, which each surface names as its client sent it.
 */
export function refuseLogprobs(request: ChatRequest, provider: string): void {
  if (request.logprobs)
    throw new UnsupportedFeature(
      `Token log probabilities come only from OpenAI-format providers, not from ${provider}`,
      'logprobs',
    );
}

const ISSUERS: Readonly<Record<FileIssuer, string>> = {
  anthropic: 'Anthropic',
  gemini: 'Gemini',
  openai: 'OpenAI',
};

/**
 * Refuses audio or video for a provider whose models read neither (Anthropic, Ollama): sent, it
 * came back as the provider's own 400 or was read as something else. Throws UnsupportedFeature
 * naming `param`.
 */
export function refuseAudioVideo(part: AudioVideoPart, provider: string, param: string): never {
  throw new UnsupportedFeature(`${provider} cannot read ${part.type}; a Gemini provider can`, param);
}

/**
 * Refuses a file reference another format's provider issued (a Gemini Files URI to Anthropic, an
 * Anthropic file id to OpenAI): it names an upload in that provider's account, and sent here it came
 * back as this provider's own 400, which the client is never shown. Throws UnsupportedFeature naming
 * `param`.
 */
export function refuseForeignFile(
  source: Extract<MediaSource, { kind: 'file' }>,
  own: FileIssuer,
  provider: string,
  param: string,
): void {
  if (source.issuer === own) return;
  throw new UnsupportedFeature(
    `${provider} cannot read a file reference only ${ISSUERS[source.issuer]} reads; send the data inline (base64)`,
    param,
  );
}
