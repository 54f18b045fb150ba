/** The admin API as the dashboard calls it: same origin, the session cookie, JSON both ways. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : undefined;
  if (!res.ok) throw new ApiError(res.status, json?.error?.message ?? `HTTP ${res.status}`);
  return json as T;
}

export const get = <T>(path: string) => api<T>('GET', path);

/** One row of `GET /admin/usage` (the store's usage aggregate, grouped). */
export interface UsageRow {
  group: string | null;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  costMicros: number;
}

export const money = (micros: number): string => `$${(micros / 1_000_000).toFixed(micros < 10_000 ? 4 : 2)}`;
export const today = (): string => new Date().toISOString().slice(0, 10);
export const daysAgo = (days: number): string =>
  new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);

/**
 * Rows as CSV (RFC 4180 quoting), downloaded as `name`. Text that a spreadsheet would take for a
 * formula (a user id such as `=HYPERLINK(…)`, chosen by whoever signs users in) is prefixed with `'`,
 * and text holding a `;` is quoted too: where `;` separates cells (Excel in many locales), `bob;=1+1`
 * would otherwise open as two cells, the second a formula.
 */
export function downloadCsv<T extends object>(name: string, rows: readonly T[]): void {
  const columns = Object.keys(rows[0] ?? {}) as Array<keyof T>;
  const cell = (value: unknown) => {
    let text = value === null || value === undefined ? '' : String(value);
    if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
    return /[",;\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  const csv = [columns.join(','), ...rows.map((row) => columns.map((c) => cell(row[c])).join(','))].join(
    '\n',
  );
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([`${csv}\n`], { type: 'text/csv' }));
  link.download = name;
  link.click();
  URL.revokeObjectURL(link.href);
}
