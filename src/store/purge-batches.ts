/** Rows a purge deletes per statement, in either store: each statement short, its locks brief. */
export const PURGE_BATCH = 500;

/** A record a purge lists. */
export interface PurgedRecord {
  id: string;
  kind: string;
}

/** What a store does for `purgeInBatches`, each step at most a batch of rows. */
export interface PurgeSteps {
  /** The next records to remove; none once the purge is done. */
  next(): PurgedRecord[] | Promise<PurgedRecord[]>;
  /** Ids of responses made in `conversations`, at most a batch. */
  responsesIn(conversations: readonly string[]): string[] | Promise<string[]>;
  /** Removes records `ids` and the responses made in `conversations`; how many records went. */
  remove(ids: readonly string[], conversations: readonly string[]): Promise<number>;
}

/**
 * Removes what `next` lists until it lists nothing, with the responses made in the conversations
 * among it: those first, since once a conversation is gone nothing finds them. One DELETE of
 * everything expired held its locks (and on SQLite the connection, with every request) until it
 * had gone through the whole table; now no statement removes more than a batch of rows, with the
 * few written meanwhile.
 */
export async function purgeInBatches(steps: PurgeSteps): Promise<number> {
  let purged = 0;
  for (let records = await steps.next(); records.length > 0; records = await steps.next()) {
    const conversations = records
      .filter((record) => record.kind === 'conversation')
      .map((record) => record.id);
    for (;;) {
      const responses = await steps.responsesIn(conversations);
      if (responses.length > 0) purged += await steps.remove(responses, []);
      // Fewer than a batch: any written since go with their conversation's statement.
      if (responses.length < PURGE_BATCH) break;
    }
    purged += await steps.remove(
      records.map((record) => record.id),
      conversations,
    );
  }
  return purged;
}
