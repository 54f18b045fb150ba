import { badRequest } from '../../errors/gateway-error.js';
import { parseBody } from '../parse-body.js';
import {
  type CountTokensRequest,
  countTokensRequestSchema,
  type MessagesRequest,
  messagesRequestSchema,
} from './schema.js';

export function parseMessagesRequest(body: unknown): MessagesRequest {
  const request = parseBody(messagesRequestSchema, body);
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
  return parseBody(countTokensRequestSchema, body);
}
