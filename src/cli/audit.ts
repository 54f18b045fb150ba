import { setTimeout as sleep } from 'node:timers/promises';
import { verifyStoredChain } from '../audit/index.js';
import type { AuditRecord } from '../store/index.js';
import { CliError, type OfflineContext, print, unknownCommand } from './context.js';
import { type CliIO, terminalSafe } from './io.js';

const line = (r: AuditRecord) =>
  `${r.seq}\t${new Date(r.at).toISOString()}\t${r.type}\t${r.actor}\t${JSON.stringify(r.data)}`;

/** `keyward audit verify|tail`. */
export async function auditCommand(
  action: string,
  options: { json?: boolean | undefined; follow?: boolean | undefined; limit?: string | undefined },
  ctx: OfflineContext,
  io: CliIO,
): Promise<number> {
  await ctx.audit.flush();
  switch (action) {
    case 'verify': {
      const result = await verifyStoredChain(ctx.store, ctx.auditKey);
      if (result.ok) {
        print(
          io,
          options.json,
          result,
          `audit chain intact: ${result.checked} record(s), last seq ${result.lastSeq}`,
        );
        return 0;
      }
      print(
        io,
        options.json,
        result,
        `audit chain BROKEN at seq ${result.problem.seq} (${result.problem.kind}): ${result.problem.message}; ${result.checked} record(s) verified before it`,
      );
      return 1;
    }
    case 'tail': {
      const limit = options.limit === undefined ? 20 : Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
        throw new CliError('--limit must be 1..1000', 2);
      const last = await ctx.store.audit.last();
      let after = Math.max(0, (last?.seq ?? 0) - limit);
      const emit = (records: AuditRecord[]) => {
        for (const record of records)
          io.stdout.write(`${options.json ? JSON.stringify(record) : terminalSafe(line(record))}\n`);
        after = records.at(-1)?.seq ?? after;
      };
      emit(await ctx.store.audit.list({ afterSeq: after, limit }));
      if (!options.follow) return 0;
      // Follows until interrupted, polling: SQLite has no change notification across processes.
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      while (!stop.signal.aborted) {
        emit(await ctx.store.audit.list({ afterSeq: after, limit: 1000 }));
        await sleep(500, undefined, { signal: stop.signal }).catch(() => undefined);
      }
      return 0;
    }
    default:
      throw new CliError(unknownCommand(['keyward', 'audit', action]), 2);
  }
}
