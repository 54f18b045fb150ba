import { pooledRandomHex } from '../keys/index.js';
import type { Item } from './items.js';

/**
 * A generated id: the creation time in milliseconds (12 hex digits), then 96 random bits (24 hex
 * digits), so that ids sort by age, as OpenAI's (which begin with their time) do. Stored ids are
 * B-tree keys: random ones land each on a page of its own, and a store holding some thousands of
 * responses rewrote several pages per response on every commit (160–460 µs a stored response in
 * SQLite, mostly writing; 30–50 µs with ordered ids).
 */
export const newId = (prefix: 'resp' | 'msg' | 'fc' | 'fco' | 'ctc' | 'ctco' | 'rs' | 'conv'): string =>
  `${prefix}_${Date.now().toString(16).padStart(12, '0')}${pooledRandomHex(12)}`;

/** When a generated id was made (ms since the epoch); undefined for an id of another shape. */
export function idCreatedAt(id: string): number | undefined {
  const match = /^[a-z]+_([0-9a-f]{12})[0-9a-f]{24}$/.exec(id);
  return match ? Number.parseInt(match[1]!, 16) : undefined;
}

const PREFIX = {
  message: 'msg',
  function_call: 'fc',
  function_call_output: 'fco',
  custom_tool_call: 'ctc',
  custom_tool_call_output: 'ctco',
  reasoning: 'rs',
} as const satisfies Record<Item['type'], Parameters<typeof newId>[0]>;

/** The same item under an id of its own, as a generated one of its type looks. */
export const withFreshId = (item: Item): Item => ({ ...item, id: newId(PREFIX[item.type]) });
