import type { GatewayError } from '../../errors/gateway-error.js';

/**
 * Google's error envelope (`google.rpc.Status` over HTTP), the shape `@google/genai` parses into
 * `ApiError`: the HTTP status as `code`, the message, and the canonical status name. The gateway's
 * own error code goes in an `ErrorInfo` detail, as Google's APIs carry their reasons.
 */
export interface GeminiErrorBody {
  error: {
    code: number;
    message: string;
    status: string;
    details: Array<{ '@type': string; reason: string; domain: string }>;
  };
}

const STATUSES: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  413: 'INVALID_ARGUMENT',
  415: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  502: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
  507: 'RESOURCE_EXHAUSTED',
};

function statusName(status: number): string {
  return STATUSES[status] ?? (status >= 400 && status < 500 ? 'FAILED_PRECONDITION' : 'INTERNAL');
}

export function geminiErrorBody(error: GatewayError): GeminiErrorBody {
  return {
    error: {
      code: error.status,
      message: error.message,
      status: statusName(error.status),
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: error.code ?? error.type,
          domain: 'keyward',
        },
      ],
    },
  };
}

/** The same envelope as one SSE chunk: the SDK raises a chunk holding `error` as an ApiError. */
export function geminiErrorEvent(error: GatewayError): string {
  return `data: ${JSON.stringify(geminiErrorBody(error))}\r\n\r\n`;
}
