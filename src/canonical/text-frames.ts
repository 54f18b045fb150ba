import { StreamFailure } from './model.js';

/**
 * The longest frame (one SSE event, one NDJSON line) a provider's stream may send, in characters.
 * Legitimate frames reach megabytes (an image's base64, a `response.completed` event carrying a
 * long answer); without a ceiling, a provider that never ends a frame would grow the gateway's
 * memory until the total deadline.
 */
export const MAX_FRAME_CHARS = 64 * 1024 * 1024;

/**
 * Splits text that arrives in pieces into frames, each ending with `delimiter` (one or two
 * characters), looking at every character once. The frame still incomplete is held as its pieces
 * and joined when its end arrives: appending each piece to one string and searching it again from its start made a long
 * frame cost the square of its length (a 4 MB event in 16 KiB reads, as TLS delivers them, held
 * the event loop for over two seconds).
 */
export class FrameSplitter {
  private pieces: string[] = [];
  private held = 0;

  constructor(
    private readonly delimiter: string,
    private readonly maxChars = MAX_FRAME_CHARS,
  ) {}

  /** The frames `text` completes, in order, each with its delimiter. */
  push(text: string): string[] {
    const frames: string[] = [];
    if (text.length === 0) return frames;
    const width = this.delimiter.length;
    let start = 0;
    if (this.held > 0 && width > 1) {
      // A delimiter split between the held text and this piece: search across the seam.
      const last = this.pieces[this.pieces.length - 1]!;
      const tail = last.slice(-(width - 1));
      const seam = (tail + text.slice(0, width - 1)).indexOf(this.delimiter);
      if (seam !== -1) {
        start = seam + width - tail.length;
        frames.push(this.take(text.slice(0, start)));
      }
    }
    for (
      let end = text.indexOf(this.delimiter, start);
      end !== -1;
      end = text.indexOf(this.delimiter, start)
    ) {
      const frame = text.slice(start, end + width);
      frames.push(this.held > 0 ? this.take(frame) : frame);
      start = end + width;
    }
    if (start < text.length) {
      const rest = start > 0 ? text.slice(start) : text;
      this.held += rest.length;
      if (this.held > this.maxChars) {
        this.pieces = [];
        this.held = 0;
        throw new StreamFailure(
          'cut',
          `The provider sent a stream frame longer than ${this.maxChars} characters`,
        );
      }
      this.pieces.push(rest);
    }
    return frames;
  }

  /** The incomplete frame left at the end of the stream ('' when every frame ended). */
  rest(): string {
    return this.take('');
  }

  /** The held pieces and `end`, as one frame; nothing is held after. */
  private take(end: string): string {
    const frame = this.pieces.length === 1 ? this.pieces[0]! + end : this.pieces.join('') + end;
    this.pieces = [];
    this.held = 0;
    return frame;
  }
}
