import { KeywardError } from './errors.js';

/** The longest event (its data and any line not yet ended) the reader holds, in characters. */
export const MAX_EVENT_CHARS = 4 * 1024 * 1024;

export interface SseOptions {
  /** The answer's HTTP status and request id, for the error an unreadable stream raises. */
  status?: number;
  requestId?: string | null;
  maxEventChars?: number;
}

/**
 * The `data:` payloads of a server-sent event stream, one string per event, as they arrive. Lines
 * may be split anywhere between chunks; CRLF, LF and a bare CR each end a line (a CRLF split
 * between chunks is one line break). A `data` line without a colon adds an empty data line. An
 * event longer than `maxEventChars` (a stream that never ends its line, say) raises a KeywardError
 * (`invalid_response`, code `event_too_large`) rather than growing without a bound.
 */
export async function* sseData(
  body: ReadableStream<Uint8Array>,
  { status = 200, requestId = null, maxEventChars = MAX_EVENT_CHARS }: SseOptions = {},
): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let data: string[] = [];
  let size = 0;
  // The last chunk ended with a CR: an LF opening the next one belongs to it.
  let afterCR = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      let text = done ? decoder.decode() : decoder.decode(value, { stream: true });
      if (afterCR && text) {
        if (text[0] === '\n') text = text.slice(1);
        afterCR = false;
      }
      buffer += text;
      if (!done && buffer.endsWith('\r')) afterCR = true;
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = done ? '' : (lines.pop() ?? '');
      for (const line of lines) {
        if (line === '') {
          if (data.length > 0) yield data.join('\n');
          data = [];
          size = 0;
        } else if (line === 'data' || line.startsWith('data:')) {
          const field = line.slice(line[5] === ' ' ? 6 : 5);
          data.push(field);
          size += field.length + 1;
        }
      }
      if (size + buffer.length > maxEventChars) {
        throw new KeywardError(
          `A stream event is longer than ${maxEventChars} characters: the answer is not a stream the client can read`,
          status,
          'invalid_response',
          'event_too_large',
          requestId,
        );
      }
      if (done) {
        if (data.length > 0) yield data.join('\n');
        return;
      }
    }
  } finally {
    // A consumer that stops early (break, abort, an error) releases the connection.
    await reader.cancel().catch(() => {});
  }
}
