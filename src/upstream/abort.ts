import { EventEmitter } from 'node:events';

/**
 * A per-request abort signal. undici accepts an EventEmitter with `aborted`/`reason` as a signal;
 * Node's AbortController (an EventTarget) cost measurably more per request on the hot path.
 */
export class AbortHandle extends EventEmitter {
  aborted = false;
  reason: unknown;

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
  }

  /** Resolves after `ms`, or rejects with the abort reason as soon as the handle is aborted. */
  wait(ms: number): Promise<void> {
    if (this.aborted) return Promise.reject(this.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        reject(this.reason);
      };
      const timer = setTimeout(() => {
        this.removeListener('abort', onAbort);
        resolve();
      }, ms);
      this.once('abort', onAbort);
    });
  }
}
