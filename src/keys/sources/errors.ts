/** Thrown for a key source that cannot produce usable keys; the message never holds a value. */
export class KeySourceError extends Error {
  override name = 'KeySourceError';
  /**
   * The source was read and says its keys must not be used now (a secret disabled, past its expiry
   * or not valid yet), rather than failing to be read: the keys loaded before are dropped too, where
   * a failed read keeps them.
   */
  readonly withdrawn: boolean;

  constructor(message: string, options: { withdrawn?: boolean } = {}) {
    super(message);
    this.withdrawn = options.withdrawn ?? false;
  }
}
