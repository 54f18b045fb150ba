import type { Pool } from 'pg';
import { inTransactionOnce } from './pg-transaction.js';
import { USAGE_GROUP_COLUMN } from './rows.js';
import { subtree, subtreeSpent } from './token-subtree.js';
import type { UsageGrouping, UsageRow, UsageStore } from './types.js';

const SUMS = `requests = t.requests + excluded.requests,
  input_tokens = t.input_tokens + excluded.input_tokens,
  output_tokens = t.output_tokens + excluded.output_tokens,
  cached_tokens = t.cached_tokens + excluded.cached_tokens,
  cost_micros = t.cost_micros + excluded.cost_micros`;

const UPSERT = `INSERT INTO usage AS t (day, token_id, user_id, model, provider, requests, input_tokens,
    output_tokens, cached_tokens, cost_micros, session_creator)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
  ON CONFLICT (day, token_id, user_id, model, provider) DO UPDATE SET ${SUMS}`;

const UPSERT_TEMPLATE = `INSERT INTO template_usage AS t (day, template, token_id, user_id, requests,
    input_tokens, output_tokens, cached_tokens, cost_micros)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
  ON CONFLICT (day, template, token_id, user_id) DO UPDATE SET ${SUMS}`;

const queryFor = (by: UsageGrouping): string => {
  const column = USAGE_GROUP_COLUMN[by];
  return `SELECT ${column} AS "group", SUM(requests) AS requests, SUM(input_tokens) AS "inputTokens",
      SUM(output_tokens) AS "outputTokens", SUM(cached_tokens) AS "cachedTokens", SUM(cost_micros) AS "costMicros"
    FROM ${by === 'template' ? 'template_usage' : 'usage'}
    WHERE day >= $1 AND day <= $2 AND ($3 = '' OR token_id = $3) AND ($4 = '' OR user_id = $4)
    GROUP BY ${column} ORDER BY ${column}`;
};

export function pgUsage(pool: Pool): UsageStore {
  return {
    async add(deltas) {
      // Sorted so that two instances flushing overlapping rows lock them in the same order (no deadlock).
      const sorted = [...deltas].sort((a, b) =>
        `${a.day}\0${a.tokenId}\0${a.userId}\0${a.model}\0${a.provider}` <
        `${b.day}\0${b.tokenId}\0${b.userId}\0${b.model}\0${b.provider}`
          ? -1
          : 1,
      );
      // Once: increments written again after a commit whose answer was lost would count twice.
      await inTransactionOnce(pool, async (client) => {
        for (const d of sorted) {
          const tokenId = d.tokenId ?? '';
          const userId = d.userId ?? '';
          const sums = [d.requests, d.inputTokens, d.outputTokens, d.cachedTokens, d.costMicros];
          await client.query(UPSERT, [
            d.day,
            tokenId,
            userId,
            d.model,
            d.provider,
            ...sums,
            d.sessionCreator ?? null,
          ]);
          if (d.template !== undefined)
            await client.query(UPSERT_TEMPLATE, [d.day, d.template, tokenId, userId, ...sums]);
        }
      });
    },
    async query(by, filter = {}) {
      const { rows } = await pool.query<UsageRow>(queryFor(by), [
        filter.from ?? '0000-00-00',
        filter.to ?? '9999-99-99',
        filter.tokenId ?? '',
        filter.userId ?? '',
      ]);
      return rows;
    },
    async spent(who, fromDay = '0000-00-00', toDay = '9999-99-99') {
      const [sql, value] =
        'tokenId' in who
          ? [`${subtree('$1::text')}${subtreeSpent('$2', '$3')}`, who.tokenId]
          : [
              'SELECT SUM(cost_micros) AS cost FROM usage WHERE user_id = $1 AND day >= $2 AND day <= $3',
              who.userId,
            ];
      const { rows } = await pool.query<{ cost: number | null }>(sql, [value, fromDay, toDay]);
      return rows[0]?.cost ?? 0;
    },
  };
}
