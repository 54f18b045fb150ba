/**
 * The most bytes of whole answers (read with `UpstreamBody.text`) a process holds at once, beside
 * the one answer that always proceeds. Each answer is held to MAX_ANSWER_BYTES (256 MiB), but
 * nothing bounded how many were held: an answer costs about 2.5 times its size while it is read,
 * parsed and handed to the client, and 16 embeddings answers of 131 MB at once, from one client,
 * took a gateway to 5.2 GB.
 */
export const MAX_HELD_ANSWER_BYTES = 512 * 1024 * 1024;

/**
 * An answer that has brought no more than this never waits: everyday answers (a chat answer is a
 * few KiB) are not held up behind one client's large ones, for little memory each.
 */
const SMALL_ANSWER_BYTES = 64 * 1024;

/** An answer's count in an account: see `HeldAnswer`. */
export interface Holding {
  /** Counts `bytes` that arrived; false when the answer's connection must pause until resumed. */
  add(bytes: number): boolean;
  /** The answer is no longer held (its client's response is over, or it failed). */
  release(): void;
}

/** Where an answer read whole counts: the process's account (`AnswerMemory`), or `JointAnswer`. */
export interface AnswerAccount {
  /** Starts counting an answer read whole; `resume` restarts its paused connection. */
  hold(resume: () => void): Holding;
}

/** One answer read whole, counted from its first byte until it is no longer held. */
export class HeldAnswer implements Holding {
  bytes = 0;
  /** Told to wait by `add`; resumed by the account, oldest first. */
  paused = false;

  constructor(
    private readonly memory: AnswerMemory,
    /** Resumes the answer's connection, paused while the account is over its bound. */
    readonly resume: () => void,
  ) {}

  /** Counts `bytes` that arrived; false when the answer's connection must pause until `resume`. */
  add(bytes: number): boolean {
    return this.memory.count(this, bytes);
  }

  /** The answer is no longer held (its client's response is over, or it failed). */
  release(): void {
    this.memory.release(this);
  }
}

/**
 * The process's account of the whole answers it holds, each from its first byte until its
 * client's response is over (its text, its parsed form and the client's socket buffer live until
 * then). While the total is over the bound, an answer still arriving pauses its connection, unless
 * it is the oldest one held, which always proceeds: it is the first to be released, so no answer
 * waits on one that waits in turn, and the total stays under the bound plus one answer. As answers
 * are released the paused ones resume, oldest first, while the total is under the bound. A paused
 * connection is still cut by the request's deadline or its client leaving (its abort handle), and
 * not by the provider's idle timeout, which undici does not run on a paused body.
 */
export class AnswerMemory implements AnswerAccount {
  private total = 0;
  /** The answers held, oldest first. */
  private readonly holding = new Set<HeldAnswer>();

  constructor(readonly bound = MAX_HELD_ANSWER_BYTES) {}

  /** The bytes counted now, over every answer held. */
  get held(): number {
    return this.total;
  }

  /** Starts counting an answer read whole; `resume` restarts its paused connection. */
  hold(resume: () => void): HeldAnswer {
    const answer = new HeldAnswer(this, resume);
    this.holding.add(answer);
    return answer;
  }

  /** See `HeldAnswer.add`. */
  count(answer: HeldAnswer, bytes: number): boolean {
    this.total += bytes;
    answer.bytes += bytes;
    if (this.total <= this.bound || answer.bytes <= SMALL_ANSWER_BYTES || this.oldest() === answer)
      return true;
    answer.paused = true;
    return false;
  }

  /** See `HeldAnswer.release`; a second call does nothing. */
  release(answer: HeldAnswer): void {
    if (!this.holding.delete(answer)) return;
    this.total -= answer.bytes;
    answer.bytes = 0;
    answer.paused = false;
    this.wake();
  }

  private oldest(): HeldAnswer | undefined {
    return this.holding.values().next().value;
  }

  /** Resumes the oldest answer if it waits, then the others, oldest first, while under the bound. */
  private wake(): void {
    for (const answer of this.holding) {
      if (answer !== this.oldest() && this.total >= this.bound) return;
      if (!answer.paused) continue;
      answer.paused = false;
      answer.resume();
    }
  }
}

/**
 * The answers one request reads one after another over several exchanges, to answer its client
 * once with them all (an embeddings request sent in parts), counted in `memory` as one answer:
 * from the first one's first byte until `release`, once the request's response is over, as an
 * answer read whole is. A part's own release (its read failed) leaves its bytes to the request's.
 *
 * As one answer, the request keeps its first part's place among the answers held. Counted as
 * answers of their own, its next part would be younger than its earlier ones: past the bound it
 * would wait for them, and they for the request to end, and every answer behind them with them.
 * As one, the oldest request's next part proceeds however much is held, as the oldest answer's
 * bytes do, and the request is the first released: no answer waits on one that waits in turn. A
 * request in parts holds its place longer than a whole answer does, while it waits for its next
 * part (bounded by its deadline, and by its client leaving).
 */
export class JointAnswer implements AnswerAccount {
  private held: HeldAnswer | undefined;
  /** Restarts the connection of the part being read, when the account paused it. */
  private resume: (() => void) | undefined;
  private released = false;

  constructor(private readonly memory: AnswerMemory) {}

  hold(resume: () => void): Holding {
    this.resume = resume;
    if (!this.released) this.held ??= this.memory.hold(() => this.resume?.());
    // Read through `held`: once the request is released, a part still arriving counts nothing.
    return { add: (bytes) => this.held?.add(bytes) ?? true, release: () => undefined };
  }

  /** The request's response is over: every part leaves the account. A second call does nothing. */
  release(): void {
    this.released = true;
    this.held?.release();
    this.held = undefined;
  }
}

/** The account every gateway of the process shares unless it is given its own. */
export const processAnswers = new AnswerMemory();
