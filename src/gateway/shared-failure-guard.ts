import { FailureGuard } from '../auth/failure-guard.js';
import { type IpcChannel, ipcMessage } from '../limits/index.js';
import type { WorkerChannel } from './cluster-gather.js';

/** The two guards of a process: the data plane's, and the admin listener's for wrong admin keys. */
export type GuardName = 'data' | 'admin';

/** worker → primary: one guess, counted against these subjects and refused by none of them yet. */
interface GuessMessage {
  keyward: 'auth-guess';
  guard: GuardName;
  subjects: string[];
}
/** primary → workers: `subject` is at its limit for `waitMs` more; its next guess is refused. */
interface FullMessage {
  keyward: 'auth-guesses-full';
  guard: GuardName;
  subject: string;
  waitMs: number;
}

const isGuess = ipcMessage<GuessMessage>('auth-guess');
const isFull = ipcMessage<FullMessage>('auth-guesses-full');

/**
 * A process's failure guard. In a worker of `--workers N` it counts with every other worker's,
 * through the primary: round-robin hands a client's connections to each worker in turn, so counted
 * in each worker alone, N times the limit's guesses were judged. Each guess the worker does not
 * refuse itself costs one IPC message; a request with a valid credential costs none.
 */
export function failureGuard(perMinute: number, guard: GuardName, channel?: IpcChannel): FailureGuard {
  if (!channel) return new FailureGuard(perMinute);
  const failures = new FailureGuard(perMinute, Date.now, (subjects) => {
    // The primary gone (the worker drains), this worker's own count still holds.
    if (channel.connected !== false)
      channel.send({ keyward: 'auth-guess', guard, subjects } satisfies GuessMessage);
  });
  channel.on('message', (message) => {
    if (isFull(message) && message.guard === guard) failures.full(message.subject, message.waitMs);
  });
  return failures;
}

/**
 * The primary's count of every worker's guesses, one guard's apart from the other's, as in one
 * process. The guess that brings a subject to its limit is told to every worker, so each refuses
 * the next one it sees; one counted past it (a guess another worker judged before that word
 * reached it, or a worker started since) is told to its sender again.
 */
export class GuessTally {
  private readonly guards: Record<GuardName, FailureGuard>;

  constructor(
    private readonly perMinute: number,
    private readonly workers: () => Iterable<WorkerChannel>,
    now: () => number = Date.now,
  ) {
    this.guards = { data: new FailureGuard(perMinute, now), admin: new FailureGuard(perMinute, now) };
  }

  attach(worker: WorkerChannel): void {
    worker.on('message', (message) => {
      if (!isGuess(message)) return;
      const guard = this.guards[message.guard];
      if (!guard) return;
      for (const subject of message.subjects) {
        const { failures, waitMs } = guard.tally(subject);
        if (failures < this.perMinute) continue;
        const full = { keyward: 'auth-guesses-full', guard: message.guard, subject, waitMs } as const;
        const told = failures === this.perMinute ? this.workers() : [worker];
        for (const each of told) if (each.isConnected()) each.send(full satisfies FullMessage);
      }
    });
  }
}
