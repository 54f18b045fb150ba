import type { Principal } from '../auth/index.js';

/**
 * Who owns what a request stores: the user of the credential (a token's `userId`), else the
 * credential itself. A token's user owns across that user's tokens; a token without a user, or a
 * static client key, owns only what it made itself; a guest owns what its own session made.
 */
export function ownerOf(principal: Principal | undefined): string {
  if (principal?.kind === 'token')
    return principal.userId ? `user:${principal.userId}` : (principal.owner ?? `token:${principal.tokenId}`);
  if (principal?.kind === 'static-key') return `key:${principal.fingerprint}`;
  // The data plane authenticates every route that reaches here; fail closed all the same.
  throw new Error('no principal to own conversation state');
}

/** The most stored records the principal's owner may keep, where it is held to a number (a guest). */
export function storedLimit(principal: Principal | undefined): number | undefined {
  return principal?.kind === 'token' ? principal.maxStored : undefined;
}

/** The owner string an admin names a user by. */
export const userOwner = (userId: string): string => `user:${userId}`;
