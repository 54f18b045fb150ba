import { request } from 'undici';

/** The admin key the integration tests give their gateways (KEYWARD_ADMIN_KEY). */
export const ADMIN_KEY = 'kwa-test-admin-key-0123456789abcdef';

export interface AdminAnswer {
  status: number;
  // Admin answers are free-form JSON; tests read the fields they assert on.
  // biome-ignore lint/suspicious/noExplicitAny: test convenience at the JSON boundary
  json: any;
  text: string;
}

/** One call to an admin listener, with a JSON body when one is given. */
export async function adminCall(
  adminUrl: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
  credential = ADMIN_KEY,
): Promise<AdminAnswer> {
  const res = await request(`${adminUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${credential}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: text ? JSON.parse(text) : undefined, text };
}
