import { ConversationService, userOwner } from '../conversations/index.js';
import type { MasterKey } from '../keys/index.js';
import { CliError, type OfflineContext, print } from './context.js';
import type { CliIO } from './io.js';

const service = (ctx: OfflineContext, masters: readonly MasterKey[]): ConversationService =>
  new ConversationService(ctx.store.conversations, () => masters, ctx.config.conversations);

/**
 * `keyward conversations purge`: deletes the responses and conversations older than
 * `conversations.ttlDays` (the gateway also does so hourly), or with `--user U` everything of
 * that user.
 */
export async function conversationsCommand(
  sub: string,
  values: { user?: string; json?: boolean },
  ctx: OfflineContext,
  io: CliIO,
): Promise<number> {
  if (sub !== 'purge')
    throw new CliError(`unknown conversations command '${sub}'; try: keyward conversations purge`, 2);
  const conversations = service(ctx, ctx.masters);
  const purged = values.user
    ? await conversations.deleteOwner(userOwner(values.user))
    : await conversations.purgeExpired();
  const whose = values.user
    ? `of user ${values.user}`
    : `older than ${ctx.config.conversations.ttlDays} days`;
  print(io, values.json, { purged }, `deleted ${purged} stored response(s) and conversation(s) ${whose}`);
  return 0;
}

/** Re-seals stored conversation content under `next` (master key rotation); returns how many records. */
export function rewrapConversations(
  ctx: OfflineContext,
  current: MasterKey,
  next: MasterKey,
): Promise<number> {
  return service(ctx, [current]).rewrap(next);
}
