import type { Dispatcher } from 'undici';
import { type AnswerAccount, type Holding, processAnswers } from './answer-memory.js';

/**
 * The most an answer may hold, streamed or not. Far above any real one (a chat answer at the
 * longest output is a few MiB; 2,048 embeddings of 3,072 dimensions as JSON floats about 125 MiB),
 * so that one read whole cannot grow the heap without bound, nor a stream whose answer is kept
 * (the Responses API's, a conversation's) or that never ends.
 */
export const MAX_ANSWER_BYTES = 256 * 1024 * 1024;

/** The answer is longer than its bound (read whole or streamed): the exchange is cut. */
export class AnswerTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`the provider's answer is longer than ${limit} bytes`);
    this.name = 'AnswerTooLarge';
  }
}

/** Buffered bytes past which the connection is paused until a reader takes them (as a Readable's high-water mark). */
const HIGH_WATER = 64 * 1024;
/** A discarded body longer than this is not worth reading to keep the connection: it is cut. */
const DUMP_LIMIT = 128 * 1024;
/** How long a body whose reader left before its end may take to end before it is cut. */
const RELEASE_MS = 1000;

/**
 * An upstream answer's body, fed by an undici dispatch handler: read whole (`text`), chunk by
 * chunk (`for await`), discarded (`dump`) or cut (`destroy`). It replaces undici's `request()` and
 * its Readable, whose stream machinery and async iterator cost about a fifth of a bare
 * pass-through's CPU per request (measured in turns against this, 96 vs 77 µs). As with a
 * Readable, a failure of the connection is thrown to the reader and the connection is paused while
 * 64 KiB wait unread. Leaving a `for await` early releases the exchange (see `release`).
 */
export class UpstreamBody implements AsyncIterable<Buffer> {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes handed to a reader chunk by chunk, held to MAX_ANSWER_BYTES. */
  private streamed = 0;
  private ended = false;
  private failure: Error | undefined;
  private discarding = false;
  private discarded = 0;
  /** A reader wants the whole body (`text`): nothing is held back at the pause mark for it. */
  private whole = false;
  /** The whole body's count in the process's account, from `text` until `settle` (or a failure). */
  private held: Holding | undefined;
  /** The answer is no longer held by anyone: a later `text` counts nothing. */
  private settled = false;
  /** Wakes a reader waiting for more. */
  private wake: (() => void) | undefined;
  /** Cuts a released body that has not ended in time (see `release`). */
  private releaseTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly controller: Dispatcher.DispatchController,
    private readonly memory: AnswerAccount = processAnswers,
  ) {}

  /** From the handler: a chunk arrived. */
  push(chunk: Buffer): void {
    if (this.discarding) {
      this.discarded += chunk.length;
      if (this.discarded > DUMP_LIMIT) this.destroy();
      return;
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.held) {
      if (!this.held.add(chunk.length) && !this.controller.paused) this.controller.pause();
    } else if (this.buffered > HIGH_WATER && !this.whole && !this.controller.paused) this.controller.pause();
    this.notify();
  }

  /** From the handler: the body is complete. */
  end(): void {
    this.ended = true;
    clearTimeout(this.releaseTimer);
    this.notify();
  }

  /** From the handler: the exchange failed before the body was complete. */
  fail(error: Error): void {
    this.failure ??= error;
    clearTimeout(this.releaseTimer);
    this.notify();
  }

  /**
   * The whole body as UTF-8 text (a leading byte order mark dropped); rejects when the exchange
   * fails first, or with AnswerTooLarge (the exchange cut) past `limit` bytes. Paused at 64 KiB, a body read whole waited for a reader
   * that was this one, until the total deadline. Its bytes count in the process's account of whole
   * answers (`AnswerMemory`), which pauses the connection while other answers hold too much, until
   * `settle` says the answer is no longer held; a failure releases them at once.
   */
  async text(limit = MAX_ANSWER_BYTES): Promise<string> {
    this.whole = true;
    if (!this.settled) this.held = this.memory.hold(() => this.resumeHeld());
    const proceeds = this.held?.add(this.buffered) ?? true;
    if (proceeds && this.controller.paused) this.controller.resume();
    else if (!proceeds && !this.controller.paused) this.controller.pause();
    try {
      while (!this.ended) {
        if (this.failure) throw this.failure;
        if (this.buffered > limit) {
          this.destroy();
          throw new AnswerTooLarge(limit);
        }
        await this.more();
      }
      if (this.buffered > limit) throw new AnswerTooLarge(limit);
    } catch (error) {
      this.settle();
      throw error;
    }
    return utf8(this.take());
  }

  /**
   * The answer read whole is no longer held (its client's response is over): its bytes leave the
   * process's account, and answers paused behind it may resume. Called once the answer's client
   * response has closed, however it ended; a second call does nothing.
   */
  settle(): void {
    this.settled = true;
    this.held?.release();
    this.held = undefined;
  }

  /**
   * The first `max` bytes as UTF-8 text (less when the body is shorter), left in place for the
   * body's reader: an error answer can be looked at before deciding what to do with it. Never
   * throws; a failed exchange leaves what arrived. `max` stays below the 64 KiB at which the
   * connection pauses, so the bytes always come.
   */
  async peek(max: number): Promise<string> {
    const limit = Math.min(max, HIGH_WATER);
    while (!this.ended && !this.failure && this.buffered < limit) await this.more();
    const chunks = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = chunks.length > 0 ? [chunks] : [];
    return utf8(chunks.subarray(0, limit));
  }

  /** Reads the rest to nowhere, so the connection can be kept (a long rest is cut instead). Never throws. */
  async dump(): Promise<void> {
    this.discarding = true;
    this.chunks = [];
    this.buffered = 0;
    if (this.controller.paused) this.controller.resume();
    while (!this.ended && !this.failure) await this.more();
  }

  /** Cuts the exchange: nothing more is read, and a reader's next read fails. */
  destroy(): void {
    if (this.ended || this.failure) return;
    const error = new Error('upstream response body destroyed');
    this.fail(error);
    if (!this.controller.aborted) this.controller.abort(error);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    try {
      for (;;) {
        if (this.chunks.length > 0) {
          const chunk = this.take();
          this.streamed += chunk.length;
          if (this.streamed > MAX_ANSWER_BYTES) {
            this.destroy();
            throw new AnswerTooLarge(MAX_ANSWER_BYTES);
          }
          if (this.controller.paused) this.controller.resume();
          yield chunk;
          continue;
        }
        if (this.failure) throw this.failure;
        if (this.ended) return;
        await this.more();
      }
    } finally {
      this.release();
    }
  }

  /**
   * The reader left before the end: at a stream's terminal event, or on a failure it answers. The
   * rest is read to nowhere (cut past DUMP_LIMIT, as `dump` does), and the exchange is cut unless
   * it ends within RELEASE_MS. The end of a stream (the chunked body's last bytes) often arrives a
   * moment after its terminal event: cut at once, every streamed answer would lose its connection.
   * A client gone, or a deadline passed, aborts the exchange at once all the same.
   */
  private release(): void {
    if (this.ended || this.failure || this.discarding) return;
    this.discarding = true;
    this.chunks = [];
    this.buffered = 0;
    if (this.controller.paused) this.controller.resume();
    this.releaseTimer = setTimeout(() => this.destroy(), RELEASE_MS);
    this.releaseTimer.unref();
  }

  /** Everything buffered, as one buffer, handed over and no longer held. */
  private take(): Buffer {
    const { chunks } = this;
    this.chunks = [];
    this.buffered = 0;
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }

  /** The account resumes a connection it paused, unless the exchange was cut meanwhile. */
  private resumeHeld(): void {
    if (!this.controller.aborted && !this.ended && !this.failure) this.controller.resume();
  }

  private more(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/**
 * `bytes` as UTF-8 text without a leading byte order mark, as a stream's TextDecoder reads them:
 * kept, it made `JSON.parse` refuse an answer the provider sent whole.
 */
function utf8(bytes: Buffer): string {
  const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  return bytes.toString('utf8', bom ? 3 : 0);
}
