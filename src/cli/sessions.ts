import { AUDIT_ACTORS, AUDIT_EVENTS, recordEvent } from '../audit/index.js';
import { sessionView } from '../sessions/admin-routes.js';
import { CliError, type OfflineContext, print, unknownCommand } from './context.js';
import type { CliIO } from './io.js';

export interface SessionFlags {
  user?: string | undefined;
  guests?: boolean | undefined;
  'include-revoked'?: boolean | undefined;
  json?: boolean | undefined;
}

/**
 * `keyward sessions list|revoke`, offline against the store: a running gateway sharing it stops
 * accepting a revoked session within a second.
 */
export async function sessionsCommand(
  action: string,
  args: readonly string[],
  flags: SessionFlags,
  ctx: OfflineContext,
  io: CliIO,
): Promise<number> {
  const now = Date.now();
  switch (action) {
    case 'list': {
      const views = (
        await ctx.store.sessions.list({
          ...(flags.user !== undefined && { userId: flags.user }),
          includeRevoked: flags['include-revoked'] === true,
        })
      ).map(sessionView);
      const text = views
        .map(
          (v) =>
            `${v.id}  ${v.guest ? 'guest' : (v.userId ?? '-')}  ${v.scopes.join(',')}  ${v.revokedAt ? `revoked ${v.revokedAt}` : `until ${v.expiresAt}`}`,
        )
        .join('\n');
      print(io, flags.json, { sessions: views }, text || 'no sessions');
      return 0;
    }
    case 'revoke': {
      const id = args[0];
      const targets = [id !== undefined, flags.user !== undefined, flags.guests === true];
      if (targets.filter(Boolean).length !== 1)
        throw new CliError(
          `keyward sessions revoke needs ${targets.some(Boolean) ? 'only one of' : 'one of'}: a session id, --user U or --guests (see keyward sessions list)`,
          2,
        );
      if (id !== undefined) {
        const session = await ctx.store.sessions.get(id);
        // What was given is not repeated: it may be a session cookie, and errors reach logs.
        if (!session) throw new CliError('no session has that id (see keyward sessions list)');
        await ctx.store.sessions.revoke(id, now, 'cli');
        recordEvent(ctx.audit, AUDIT_EVENTS.sessionRevoked, AUDIT_ACTORS.cli, { sessionId: id });
        print(io, flags.json, sessionView((await ctx.store.sessions.get(id)) ?? session), `revoked ${id}`);
        return 0;
      }
      if (flags.user === undefined) {
        const count = await ctx.store.sessions.revokeGuests(now, 'cli');
        recordEvent(ctx.audit, AUDIT_EVENTS.sessionRevoked, AUDIT_ACTORS.cli, { guest: true, count });
        print(io, flags.json, { revoked: count }, `revoked ${count} guest session(s)`);
        return 0;
      }
      const ids = await ctx.store.sessions.revokeUser(flags.user, now, 'cli');
      recordEvent(ctx.audit, AUDIT_EVENTS.sessionRevoked, AUDIT_ACTORS.cli, {
        userId: flags.user,
        count: ids.length,
      });
      print(
        io,
        flags.json,
        { revoked: ids.length, sessions: ids },
        `revoked ${ids.length} session(s) of ${flags.user}`,
      );
      return 0;
    }
    default:
      throw new CliError(unknownCommand(['keyward', 'sessions', action]), 2);
  }
}
