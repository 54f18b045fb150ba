import { asCustomCall } from '../../canonical/custom-tools.js';
import { isRecord } from '../../providers/index.js';
import type { SurfaceBinding } from '../types.js';
import { withoutFilterFields } from './azure-filters.js';
import {
  customToolNames,
  declaresOnlyFunctions,
  openAICustomToolsSurface,
  openAILegacyFunctionsSurface,
  openAISurface,
} from './canonical.js';
import type { ChatCompletionRequest } from './chat-schema.js';
import { openAIErrorBody, openAIErrorEvent } from './envelope.js';
import { relayOpenAIStream } from './stream-relay.js';

/** Whether a body asks OpenAI for priority processing; `fast` is the tier's newer name. */
export const asksPriorityTier = (body: Record<string, unknown>): boolean =>
  body.service_tier === 'priority' || body.service_tier === 'fast';

/** The OpenAI surface as the forwarder drives it. */
export const openAIBinding: SurfaceBinding = {
  format: 'openai',
  // The route validated the body against the chat schema before it got here.
  toCanonical: (body, earlier) => openAISurface.toCanonical(body as ChatCompletionRequest, earlier),
  clientParam: (param, request, body) =>
    openAISurface.clientParam?.(param, request, body as ChatCompletionRequest) ?? param,
  fromCanonical: (response) => openAISurface.fromCanonical(response),
  streamEncoder: (options) => openAISurface.streamEncoder(options),
  errorBody: openAIErrorBody,
  errorEvent: openAIErrorEvent,
  relay: relayOpenAIStream,
  maxTokensFields: ['max_completion_tokens', 'max_tokens'],
  choicesFields: ['n'],
  asksFast: asksPriorityTier,
  nativeAnswer: (payload, providerType) =>
    providerType === 'azure-openai' && isRecord(payload)
      ? JSON.stringify(withoutFilterFields(payload))
      : undefined,
};

/** For a request that declared only legacy `functions`: its call is answered as `function_call`. */
export const openAILegacyFunctionsBinding: SurfaceBinding = {
  ...openAIBinding,
  // Calls after the first are not shown (see `openAILegacyFunctionsSurface`): not stored either, or
  // a conversation's next turn would replay calls the client never answered.
  shown: (parts) => {
    let calls = 0;
    return parts.filter((part) => part.type !== 'tool_call' || calls++ === 0);
  },
  fromCanonical: (response) => openAILegacyFunctionsSurface.fromCanonical(response),
  streamEncoder: (options) => openAILegacyFunctionsSurface.streamEncoder(options),
};

/**
 * The binding for one Chat Completions request: a request with custom tools is answered with their
 * calls as custom calls whatever format served it, and a conversation stores them so.
 */
export function chatBinding(body: ChatCompletionRequest): SurfaceBinding {
  if (declaresOnlyFunctions(body)) return openAILegacyFunctionsBinding;
  const customTools = customToolNames(body);
  if (customTools.size === 0) return openAIBinding;
  const surface = openAICustomToolsSurface(customTools);
  return {
    ...openAIBinding,
    shown: (parts) => parts.map((part) => asCustomCall(part, customTools)),
    fromCanonical: (response) => surface.fromCanonical(response),
    streamEncoder: (options) => surface.streamEncoder(options),
  };
}
