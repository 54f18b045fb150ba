import { badRequest } from '../errors/gateway-error.js';

export interface JsonLimits {
  /** Deepest nesting of objects and arrays. */
  depth: number;
  /** Longest array anywhere in the document. */
  arrayItems: number;
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

/** JSON.parse + `assertSafeJson`, with a client-facing message for malformed input. */
export function parseJsonBody(text: string, limits: JsonLimits): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest('Request body is not valid JSON', { code: 'invalid_json' });
  }
  assertSafeJson(value, limits);
  return value;
}
