import { type StreamEvent, StreamFailure } from './model.js';

/**
 * The rule every stream decoder follows for a failure (an error event, a broken event) in the
 * middle of a chunk. Once the client's stream has begun, the events the chunk held before the
 * failure still go out, and the failure comes with the next call: the client sees everything the
 * provider sent. Until then a failure is thrown at once, so the request can still be answered as a
 * failed one (and fall back to another provider).
 */
export class PendingFailure {
  /** Some push has returned events: the client's stream has begun. */
  private emitted = false;
  /** A failure held back for the next call, so that the events before it go out first. */
  private failure: StreamFailure | undefined;

  /** Throws the failure held back by an earlier push, if any; each push and end starts with it. */
  raise(): void {
    if (this.failure) throw this.failure;
  }

  /** One push's events: what `decode` put in before it failed, the failure held back as above. */
  collect(decode: (events: StreamEvent[]) => void): StreamEvent[] {
    const events: StreamEvent[] = [];
    try {
      decode(events);
    } catch (error) {
      if (!(error instanceof StreamFailure) || !this.emitted || events.length === 0) throw error;
      this.failure = error;
    }
    if (events.length > 0) this.emitted = true;
    return events;
  }
}
