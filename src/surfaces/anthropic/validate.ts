import type { z } from 'zod';
import { badRequest, GatewayError } from '../../errors/gateway-error.js';
import { parseBody } from '../parse-body.js';
import {
  type CountTokensRequest,
  countTokensRequestSchema,
  type MessagesRequest,
  messagesRequestSchema,
} from './schema.js';

export function parseMessagesRequest(body: unknown): MessagesRequest {
  const request = parseAnthropicBody(messagesRequestSchema, body);
  // Anthropic would answer with the models it names (or its own defaults) when the routed one
  // declines: models the credential may not use, at prices Keyward does not charge.
  if (request.fallbacks !== undefined && request.fallbacks !== null)
    throw badRequest(
      "'fallbacks' asks the provider for models Keyward did not route to; leave it out and give the model alias fallbacks in Keyward's configuration instead",
      { param: 'fallbacks', code: 'invalid_value' },
    );
  return request;
}

export function parseCountTokensRequest(body: unknown): CountTokensRequest {
  return parseAnthropicBody(countTokensRequestSchema, body);
}

/**
 * The SDK takes `betas` with the body's params and sends it as the `anthropic-beta` header; a
 * client writing its own JSON (or calling `client.post`) may leave it in the body, where the API
 * has no such field. The refusal says where the flags go.
 */
function parseAnthropicBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  try {
    return parseBody(schema, body);
  } catch (error) {
    if (!(error instanceof GatewayError) || error.code !== 'unknown_field' || error.param !== 'betas')
      throw error;
    throw badRequest(
      `${error.message}: send beta flags in the anthropic-beta header (comma-separated), not in the body`,
      { param: 'betas', code: 'unknown_field' },
    );
  }
}
