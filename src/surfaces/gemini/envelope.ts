import type { GatewayError } from '../../errors/gateway-error.js';

/**
 * Google's error envelope (`google.rpc.Status` over HTTP), the shape `@google/genai` parses into
 * `ApiError`: the HTTP status as `code`, the message, and the canonical status name. The gateway's
 * own error code goes in an `ErrorInfo` detail, as Google's APIs carry their reasons, and the
 * field at fault in a `BadRequest` detail's `fieldViolations`, as they name fields.
 */
type ErrorDetail =
  | { '@type': 'type.googleapis.com/google.rpc.ErrorInfo'; reason: string; domain: string }
  | {
      '@type': 'type.googleapis.com/google.rpc.BadRequest';
      fieldViolations: Array<{ field: string; description: string }>;
    };

export interface GeminiErrorBody {
  error: {
    code: number;
    message: string;
    status: string;
    details: ErrorDetail[];
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

/** What the envelope tells of an error: a `GatewayError`, or the same read back from another envelope. */
export type ErrorFacts = Pick<GatewayError, 'status' | 'message' | 'code' | 'param'> & { type: string };

export function geminiErrorBody(error: ErrorFacts): GeminiErrorBody {
  const details: ErrorDetail[] = [
    {
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
      reason: error.code ?? error.type,
      domain: 'keyward',
    },
  ];
  if (error.param)
    details.push({
      '@type': 'type.googleapis.com/google.rpc.BadRequest',
      fieldViolations: [{ field: error.param, description: error.message }],
    });
  return { error: { code: error.status, message: error.message, status: statusName(error.status), details } };
}

/** The same envelope as one SSE chunk: the SDK raises a chunk holding `error` as an ApiError. */
export function geminiErrorEvent(error: GatewayError): string {
  return `data: ${JSON.stringify(geminiErrorBody(error))}\r\n\r\n`;
}
