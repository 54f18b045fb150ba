import { z } from 'zod';

/**
 * A JSON object of at most `max` entries, each checked as a record checks them, the count first:
 * a record refined on its size checks every entry before the size, and a body's object of
 * 200,000 keys (`limits.jsonValues`) took most of a second of the event loop to be refused.
 */
export function boundedRecord<K extends z.core.$ZodRecordKey, V extends z.ZodType>(
  key: K,
  value: V,
  max: number,
  message: string,
) {
  return z
    .custom<Record<string, unknown>>(
      (input) => typeof input !== 'object' || input === null || Object.keys(input).length <= max,
      { message },
    )
    .pipe(z.record(key, value));
}
