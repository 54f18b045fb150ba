import type { IncomingHttpHeaders } from 'node:http';

/**
 * `__Host-` cookies: the browser keeps them only when set over https (or localhost) with Secure,
 * Path=/ and no Domain, so no sibling subdomain can plant or read them.
 */
export const SESSION_COOKIE = '__Host-keyward_session';
export const REFRESH_COOKIE = '__Host-keyward_refresh';

/** The value of cookie `name` from the Cookie header, or undefined. */
export function readCookie(headers: IncomingHttpHeaders, name: string): string | undefined {
  const header = headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function setCookie(name: string, value: string, maxAgeSec: number): string {
  return `${name}=${value}; Max-Age=${Math.max(0, Math.floor(maxAgeSec))}; Path=/; Secure; HttpOnly; SameSite=Lax`;
}

export const clearCookie = (name: string): string => setCookie(name, '', 0);
