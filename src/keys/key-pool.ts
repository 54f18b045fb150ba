import type { SecretString } from './secret-string.js';

/** The keys of one provider, handed out round-robin so that load spreads across them. */
export class KeyPool {
  private readonly keys: readonly SecretString[];
  private cursor = 0;

  constructor(keys: readonly SecretString[]) {
    this.keys = keys;
  }

  get size(): number {
    return this.keys.length;
  }

  next(): SecretString | undefined {
    if (this.keys.length === 0) return undefined;
    const key = this.keys[this.cursor % this.keys.length];
    this.cursor = (this.cursor + 1) % this.keys.length;
    return key;
  }

  values(): readonly SecretString[] {
    return this.keys;
  }
}
