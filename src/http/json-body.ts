import { badRequest } from '../errors/gateway-error.js';

export interface JsonLimits {
  /** Deepest nesting of objects and arrays. */
  depth: number;
  /** Longest array anywhere in the document. */
  arrayItems: number;
  /** Most values (object members and array items together) in the whole document. */
  values: number;
}

/** Keys that reach `Object.prototype` when a parsed body is later merged into another object. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Walks a parsed JSON document once, iteratively (a deep document must not overflow the stack),
 * and refuses prototype-polluting keys, excessive depth and oversized arrays.
 */
export function assertSafeJson(root: unknown, limits: JsonLimits): void {
  if (typeof root !== 'object' || root === null) return;
  const stack: Array<{ value: object; depth: number }> = [{ value: root, depth: 1 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (depth > limits.depth) {
      throw badRequest(`Request body is nested deeper than ${limits.depth} levels`, {
        code: 'json_too_deep',
      });
    }
    if (Array.isArray(value)) {
      if (value.length > limits.arrayItems) {
        throw badRequest(`Request body has an array longer than ${limits.arrayItems} items`, {
          code: 'json_array_too_long',
        });
      }
      for (const item of value) {
        if (typeof item === 'object' && item !== null) stack.push({ value: item, depth: depth + 1 });
      }
      continue;
    }
    for (const key in value) {
      if (FORBIDDEN_KEYS.has(key)) {
        throw badRequest(`Request body contains the forbidden key '${key}'`, {
          code: 'forbidden_key',
          param: key,
        });
      }
      const child = (value as Record<string, unknown>)[key];
      if (typeof child === 'object' && child !== null) stack.push({ value: child, depth: depth + 1 });
    }
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const OPEN_BRACE = 0x7b;

/**
 * Whether `text` may hold more than `max` values, counted before it is parsed: every comma,
 * opening bracket and brace outside strings opens one (an empty container is counted too, which
 * errs on the side of refusing). Strings are skipped with `indexOf`, so a long string costs little.
 */
function holdsMoreValues(text: string, max: number): boolean {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      let end = text.indexOf('"', i + 1);
      while (end !== -1 && escaped(text, end)) end = text.indexOf('"', end + 1);
      // An unterminated string is malformed: JSON.parse says so.
      if (end === -1) return false;
      i = end;
    } else if ((c === COMMA || c === OPEN_BRACKET || c === OPEN_BRACE) && ++count > max) {
      return true;
    }
  }
  return false;
}

/** Whether the quote at `at` is escaped: an odd run of backslashes before it. */
function escaped(text: string, at: number): boolean {
  let run = 0;
  while (text.charCodeAt(at - 1 - run) === BACKSLASH) run++;
  return run % 2 === 1;
}

/**
 * JSON.parse + `assertSafeJson`, with a client-facing message for malformed input. A body that
 * may hold more than `limits.values` values is refused before it is parsed: parsing and checking
 * a 10 MB body of hundreds of thousands of small members held the event loop for seconds, for
 * every client. Each value takes two characters at least, so a body of fewer than twice that many
 * characters is not scanned: the requests of every day are never looked at twice.
 */
export function parseJsonBody(text: string, limits: JsonLimits): unknown {
  if (text.length > 2 * limits.values && holdsMoreValues(text, limits.values)) {
    throw badRequest(
      `Request body holds more than ${limits.values} values (object members and array items); send less, or the operator raises limits.jsonValues`,
      { code: 'json_too_many_values' },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest('Request body is not valid JSON', { code: 'invalid_json' });
  }
  assertSafeJson(value, limits);
  return value;
}
