/** How deep tokens may mint tokens: deeper links are neither minted nor followed. */
export const MAX_TOKEN_DEPTH = 32;

/**
 * A `WITH` clause naming `subtree(id)`: the token `root` (a bound parameter) and every token
 * minted under it, found by their creator (index `tokens_by_creator`). The same SQL runs on
 * SQLite and Postgres; only the parameter's spelling differs.
 */
export const subtree = (root: string): string =>
  `WITH RECURSIVE subtree(id, depth) AS (
     SELECT ${root}, 0
     UNION ALL
     SELECT tokens.id, subtree.depth + 1 FROM tokens JOIN subtree ON tokens.created_by = subtree.id
     WHERE subtree.depth < ${MAX_TOKEN_DEPTH}
   ) `;

/**
 * After `subtree`: the sum of the usage rows counted in its spend from day `from` through `to`
 * (parameters): its tokens' own, and that of the browser sessions they signed in, found by the
 * token stored on the row, as the session itself is pruned once expired. The two sets are
 * disjoint (a session's `ses_` subject is no token id), and each is read through its index.
 */
export const subtreeSpent = (from: string, to: string): string =>
  `SELECT SUM(cost_micros) AS cost FROM (
     SELECT cost_micros FROM usage
       WHERE token_id IN (SELECT id FROM subtree) AND day >= ${from} AND day <= ${to}
     UNION ALL
     SELECT cost_micros FROM usage
       WHERE session_creator IN (SELECT id FROM subtree) AND day >= ${from} AND day <= ${to}
   ) AS spent`;
