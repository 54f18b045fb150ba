import type Database from 'better-sqlite3';
import { USAGE_GROUP_COLUMN } from './rows.js';
import { withShortBusyWait } from './sqlite-busy.js';
import { subtree, subtreeSpent } from './token-subtree.js';
import type { UsageGrouping, UsageRow, UsageStore } from './types.js';

/** How long a usage flush may wait for the write lock: a few of the audit thread's batches. */
const FLUSH_BUSY_WAIT_MS = 50;

export function sqliteUsage(db: Database.Database): UsageStore {
  const upsert = db.prepare(
    `INSERT INTO usage (day, token_id, user_id, session_creator, model, provider, requests, input_tokens, output_tokens, cached_tokens, cost_micros)
     VALUES (@day, @tokenId, @userId, @sessionCreator, @model, @provider, @requests, @inputTokens, @outputTokens, @cachedTokens, @costMicros)
     ON CONFLICT (day, token_id, user_id, model, provider) DO UPDATE SET
       requests = requests + excluded.requests,
       input_tokens = input_tokens + excluded.input_tokens,
       output_tokens = output_tokens + excluded.output_tokens,
       cached_tokens = cached_tokens + excluded.cached_tokens,
       cost_micros = cost_micros + excluded.cost_micros`,
  );
  const upsertTemplate = db.prepare(
    `INSERT INTO template_usage (day, template, token_id, user_id, requests, input_tokens, output_tokens, cached_tokens, cost_micros)
     VALUES (@day, @template, @tokenId, @userId, @requests, @inputTokens, @outputTokens, @cachedTokens, @costMicros)
     ON CONFLICT (day, template, token_id, user_id) DO UPDATE SET
       requests = requests + excluded.requests,
       input_tokens = input_tokens + excluded.input_tokens,
       output_tokens = output_tokens + excluded.output_tokens,
       cached_tokens = cached_tokens + excluded.cached_tokens,
       cost_micros = cost_micros + excluded.cost_micros`,
  );
  const addAll = db.transaction((deltas: Parameters<UsageStore['add']>[0]) => {
    for (const { template, sessionCreator, ...delta } of deltas) {
      const row = { ...delta, tokenId: delta.tokenId ?? '', userId: delta.userId ?? '' };
      upsert.run({ ...row, sessionCreator: sessionCreator ?? null });
      if (template !== undefined) upsertTemplate.run({ ...row, template });
    }
  });
  const spentByToken = db.prepare<{ root: string; from: string; to: string }, { cost: number | null }>(
    `${subtree('@root')} ${subtreeSpent('@from', '@to')}`,
  );
  const spentByUser = db.prepare<[string, string, string], { cost: number | null }>(
    'SELECT SUM(cost_micros) AS cost FROM usage WHERE user_id = ? AND day >= ? AND day <= ?',
  );
  const queries = new Map<UsageGrouping, Database.Statement<Record<string, string>, UsageRow>>();
  for (const [by, column] of Object.entries(USAGE_GROUP_COLUMN) as Array<[UsageGrouping, string]>) {
    queries.set(
      by,
      db.prepare(
        `SELECT ${column} AS "group", SUM(requests) AS requests, SUM(input_tokens) AS inputTokens,
           SUM(output_tokens) AS outputTokens, SUM(cached_tokens) AS cachedTokens, SUM(cost_micros) AS costMicros
         FROM ${by === 'template' ? 'template_usage' : 'usage'}
         WHERE day >= @from AND day <= @to AND (@tokenId = '' OR token_id = @tokenId) AND (@userId = '' OR user_id = @userId)
         GROUP BY ${column} ORDER BY ${column}`,
      ),
    );
  }
  return {
    async add(deltas) {
      // Written from a timer on the event loop: the recorder keeps the counts for its next flush.
      withShortBusyWait(db, FLUSH_BUSY_WAIT_MS, () => addAll(deltas));
    },
    async query(by, filter = {}) {
      return queries.get(by)!.all({
        from: filter.from ?? '0000-00-00',
        to: filter.to ?? '9999-99-99',
        tokenId: filter.tokenId ?? '',
        userId: filter.userId ?? '',
      });
    },
    async spent(who, fromDay = '0000-00-00', toDay = '9999-99-99') {
      const row =
        'tokenId' in who
          ? spentByToken.get({ root: who.tokenId, from: fromDay, to: toDay })
          : spentByUser.get(who.userId, fromDay, toDay);
      return row?.cost ?? 0;
    },
  };
}
