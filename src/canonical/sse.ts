import { FrameSplitter } from './text-frames.js';

/**
 * Splits a byte stream of Server-Sent Events into whole events (each ending with its blank line),
 * so that they can be forwarded or translated one by one without ever buffering a whole answer.
 */
export class SseSplitter {
  private readonly frames = new FrameSplitter('\n\n');
  private readonly decoder = new TextDecoder();
  /**
   * The last chunk ended in CR, which ended its line at once (a bare CR is a line end of its own):
   * an LF opening the next chunk is that CRLF's second half, not another line end. Holding the CR
   * back instead delayed every bare-CR event until the next chunk, and lost the last one.
   */
  private afterCr = false;

  /** The events `chunk` completes; throws a `StreamFailure` past `MAX_FRAME_CHARS` in one event. */
  push(chunk: Uint8Array): string[] {
    let text = this.decoder.decode(chunk, { stream: true });
    if (this.afterCr && text.length > 0) {
      this.afterCr = false;
      if (text.charCodeAt(0) === 10) text = text.slice(1);
    }
    if (text.includes('\r')) {
      this.afterCr = text.charCodeAt(text.length - 1) === 13;
      text = text.replace(/\r\n?/g, '\n');
    }
    return this.frames.push(text);
  }

  /** What is left after the stream ended: an incomplete event, which a clean stream never has. */
  rest(): string {
    return this.frames.rest() + this.decoder.decode();
  }
}

/** The concatenated `data:` lines of one event, or undefined for events without data (comments). */
export function eventData(event: string): string | undefined {
  let data: string | undefined;
  // Line by line without splitting: an event is usually one `event:` and one `data:` line.
  for (let start = 0; start < event.length; ) {
    const newline = event.indexOf('\n', start);
    const end = newline === -1 ? event.length : newline;
    if (event.startsWith('data:', start)) {
      const value = event.slice(event.charCodeAt(start + 5) === 32 ? start + 6 : start + 5, end);
      data = data === undefined ? value : `${data}\n${value}`;
    }
    start = end + 1;
  }
  return data;
}
