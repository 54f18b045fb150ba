/** Thrown for a key source that cannot produce usable keys; the message never holds a value. */
export class KeySourceError extends Error {
  override name = 'KeySourceError';
}
