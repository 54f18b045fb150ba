import { expect } from 'vitest';

/**
 * Runs `turn` until the conversation's hold from an ending turn is gone: each refusal must be a
 * `conversation_locked`, anything else fails the test. Gives up after about 2.5 s.
 */
export async function whenUnlocked<T>(turn: () => Promise<T>): Promise<T | undefined> {
  const locked = { status: 400, error: { code: 'conversation_locked', param: 'conversation' } };
  for (let attempt = 0; attempt < 50; attempt++) {
    const done = await turn().catch(async (error) => {
      expect(error).toMatchObject(locked);
      await new Promise((resolve) => setTimeout(resolve, 50));
      return undefined;
    });
    if (done !== undefined) return done;
  }
  return undefined;
}
