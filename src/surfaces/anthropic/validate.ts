import { parseBody } from '../parse-body.js';
import {
  type CountTokensRequest,
  countTokensRequestSchema,
  type MessagesRequest,
  messagesRequestSchema,
} from './schema.js';

export function parseMessagesRequest(body: unknown): MessagesRequest {
  return parseBody(messagesRequestSchema, body);
}

export function parseCountTokensRequest(body: unknown): CountTokensRequest {
  return parseBody(countTokensRequestSchema, body);
}
