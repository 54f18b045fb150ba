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
