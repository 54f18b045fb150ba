import type { GatewayError } from '../../errors/gateway-error.js';

export interface OpenAIErrorBody {
  error: { message: string; type: string; code: string | null; param: string | null };
}

/** OpenAI's error envelope, the shape its SDKs parse into `APIError`. */
export function openAIErrorBody(error: GatewayError): OpenAIErrorBody {
  return { error: { message: error.message, type: error.type, code: error.code, param: error.param } };
}

/** The same envelope as one SSE event, for failures after a stream has started. */
export function openAIErrorEvent(error: GatewayError): string {
  return `data: ${JSON.stringify(openAIErrorBody(error))}\n\n`;
}
