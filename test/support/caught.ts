import { expect } from 'vitest';
import { KeywardError } from '../../src/client/index.js';

/** The KeywardError `promise` rejects with; fails the test when it resolves or throws anything else. */
export async function caught(promise: Promise<unknown>): Promise<KeywardError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(KeywardError);
    return error as KeywardError;
  }
  throw new Error('expected a KeywardError');
}
