const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A top-level field, or one inside objects (`generationConfig.maxOutputTokens`, Gemini's;
 * `generationConfig.thinkingConfig.thinkingBudget`).
 */
export function bodyField(body: Record<string, unknown>, field: string): unknown {
  let dot = field.indexOf('.');
  if (dot === -1) return body[field];
  let holder: unknown = body;
  let from = 0;
  for (; dot !== -1; dot = field.indexOf('.', from)) {
    holder = isObject(holder) ? holder[field.slice(from, dot)] : undefined;
    from = dot + 1;
  }
  return isObject(holder) ? holder[field.slice(from)] : undefined;
}

/** The body with `field` set as `bodyField` reads it; each object on the way is copied, so the client's body stays as it came. */
export function withBodyField<B extends Record<string, unknown>>(body: B, field: string, value: unknown): B {
  const out: Record<string, unknown> = { ...body };
  let holder = out;
  const names = field.split('.');
  for (const name of names.slice(0, -1)) {
    const inner = holder[name];
    const copy = isObject(inner) ? { ...inner } : {};
    holder[name] = copy;
    holder = copy;
  }
  holder[names.at(-1)!] = value;
  return out as B;
}
