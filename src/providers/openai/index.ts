import { UnsupportedFeature } from '../../canonical/model.js';
import type { ProviderConfig } from '../../config/index.js';
import type { SecretString } from '../../keys/index.js';
import type { Operation, ProviderAdapter, UpstreamCall, Usage } from '../types.js';
import { count, isRecord } from '../wire-values.js';
import { createOpenAIChatCodec, OPENAI_STOP_SEQUENCES, refusesTemperature } from './codec.js';
import { chunkUsage } from './stream.js';

const PATHS = { chat: '/chat/completions', embeddings: '/embeddings' } as const;

/** The OpenAI format has no token-counting endpoint; callers estimate instead. */
export function openAIPath(operation: Operation): '/chat/completions' | '/embeddings' {
  if (operation === 'count_tokens')
    throw new UnsupportedFeature('This provider cannot count tokens', 'model');
  return PATHS[operation];
}

/**
 * Headers every upstream request carries, plus the provider's configured static headers. Answers
 * are asked uncompressed: without `accept-encoding`, a server may compress, and the gateway reads
 * answers as they come (a stream's events one by one); the config refuses another value.
 */
export function baseHeaders(config: ProviderConfig): Record<string, string> {
  return {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'accept-encoding': 'identity',
    ...config.headers,
  };
}

/** The path prefix of a base URL such as `https://api.openai.com/v1`, without a trailing slash. */
export function basePath(config: ProviderConfig): string {
  return new URL(config.baseUrl).pathname.replace(/\/+$/, '');
}

/** Usage as OpenAI reports it, in responses, embeddings and the final stream chunk (Groq's too). */
export function readOpenAIUsage(payload: unknown): Usage | undefined {
  const usage = chunkUsage(payload);
  if (!usage) return undefined;
  const details = isRecord(usage.prompt_tokens_details) ? usage.prompt_tokens_details : {};
  const completion = isRecord(usage.completion_tokens_details) ? usage.completion_tokens_details : {};
  const cached = count(details.cached_tokens);
  const audio = count(details.audio_tokens);
  const spoken = count(completion.audio_tokens);
  return {
    inputTokens: count(usage.prompt_tokens),
    outputTokens: count(usage.completion_tokens),
    ...(cached > 0 && { cachedTokens: cached }),
    ...(audio > 0 && { audioTokens: audio }),
    ...(spoken > 0 && { audioOutputTokens: spoken }),
  };
}

/**
 * The upstream body: the client's, with the routed model and, where the provider supports it,
 * `stream_options.include_usage` on streams so every stream reports its tokens (the relay hides
 * the extra usage chunk from clients that did not ask for it).
 */
export function upstreamBody(
  operation: Operation,
  body: Record<string, unknown>,
  model: string,
  streamUsage: boolean,
): string {
  if (streamUsage && operation === 'chat' && body.stream === true) {
    const options = body.stream_options as Record<string, unknown> | null | undefined;
    return JSON.stringify({ ...body, model, stream_options: { ...options, include_usage: true } });
  }
  return JSON.stringify({ ...body, model });
}

/**
 * A client's body without the alias's default temperature where `model` refuses it
 * (`refusesTemperature`), as a translated request is sent (`ChatRequest.temperatureIsDefault`):
 * its client never sent the field.
 */
export function withoutUntakenTemperature(
  body: Record<string, unknown>,
  model: string,
): Record<string, unknown> {
  const { temperature } = body;
  if (typeof temperature !== 'number' || !refusesTemperature(model, temperature, body.reasoning_effort))
    return body;
  const { temperature: _left, ...rest } = body;
  return rest;
}

/**
 * OpenAI and everything that speaks its API under a base URL: OpenAI itself, OpenAI-compatible
 * servers (vLLM, LM Studio, Together, Groq, …) and Ollama's `/v1` endpoint.
 */
export function createOpenAIAdapter(config: ProviderConfig): ProviderAdapter {
  const prefix = basePath(config);
  const headers = baseHeaders(config);
  // OpenAI documents `stream_options`; servers imitating the API are asked only when the
  // configuration says they take it, since some refuse the field.
  const streamUsage = config.type === 'openai' || config.streamUsage === true;
  const withKey = (key: SecretString | undefined) =>
    key ? { ...headers, authorization: `Bearer ${key.reveal()}` } : headers;
  const chat = createOpenAIChatCodec({
    pathFor: () => `${prefix}/chat/completions`,
    streamUsage,
    // OpenAI deprecated max_tokens; servers imitating the API mostly know only max_tokens.
    maxTokensField: config.type === 'openai' ? 'max_completion_tokens' : 'max_tokens',
    endsWithoutDone: config.type === 'openai-compatible',
    customTools: config.type === 'openai',
    openAIServer: config.type === 'openai',
    ...(config.type === 'openai' && { maxStopSequences: OPENAI_STOP_SEQUENCES }),
  });
  return {
    type: config.type,
    format: 'openai',
    requiresKey: config.type === 'openai',
    readUsage: readOpenAIUsage,
    chat,
    buildCall(operation, model, body, key, options): UpstreamCall {
      const sent =
        config.type === 'openai' && options?.temperatureIsDefault
          ? withoutUntakenTemperature(body, model)
          : body;
      return {
        path: prefix + openAIPath(operation),
        headers: withKey(key),
        body: upstreamBody(operation, sent, model, streamUsage),
      };
    },
    buildChatCall(request, key): UpstreamCall {
      return { ...chat.encodeRequest(request), headers: withKey(key) };
    },
  };
}
