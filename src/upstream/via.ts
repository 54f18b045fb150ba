import { randomBytes } from 'node:crypto';

/**
 * Loop detection in the manner of HTTP `Via`. A provider's baseUrl may lead back to a Keyward
 * gateway (the quick start's `ANTHROPIC_BASE_URL=http://127.0.0.1:8088` still exported in the shell
 * that starts the gateway makes its Anthropic provider the gateway itself): every request would
 * then send another, without end. So each request a provider pool sends names, in this header, the
 * gateways it has passed through, this one last, and a gateway refuses a request that names it.
 */
export const VIA_HEADER = 'x-keyward-via';

/**
 * This process's id, made at start. Each worker of `--workers` is a process with its own: a loop
 * through the gateway's shared port may pass through several workers before it returns to one
 * already named, which the worker count bounds (and MAX_VIA_HOPS, whatever the count).
 */
export const GATEWAY_ID = randomBytes(8).toString('hex');

/** A request that has passed through this many gateways is refused, whether or not it loops. */
export const MAX_VIA_HOPS = 10;

const ID = /^[0-9a-f]{16}$/;
const SEPARATOR = ', ';
/** The longest value a gateway writes; anything longer was not written by one, and is not read. */
const MAX_VALUE_LENGTH = MAX_VIA_HOPS * (GATEWAY_ID.length + SEPARATOR.length);

/**
 * The gateways a request has passed through, from its header; none when the header is absent or
 * not as a gateway writes it (a client may send anything there: it is never parsed further).
 */
export function viaHops(value: string | string[] | undefined): readonly string[] {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_VALUE_LENGTH) return [];
  const hops = value.split(',').map((hop) => hop.trim());
  return hops.every((hop) => ID.test(hop)) ? hops : [];
}

/** Why a request with these hops must not go on, or undefined when it may. */
export function loopIn(hops: readonly string[]): 'returned' | 'too_many_hops' | undefined {
  if (hops.includes(GATEWAY_ID)) return 'returned';
  return hops.length >= MAX_VIA_HOPS ? 'too_many_hops' : undefined;
}

/** The header a request that arrived with `value` carries upstream: its hops, then this gateway. */
export function onwardVia(value: string | string[] | undefined): string {
  const hops = viaHops(value);
  return hops.length === 0 ? GATEWAY_ID : `${hops.join(SEPARATOR)}${SEPARATOR}${GATEWAY_ID}`;
}

/** The status a gateway answers a loop with (WebDAV's Loop Detected), and knows again from upstream. */
export const LOOP_STATUS = 508;

/** What an operator does about a loop, for the message of either answer. */
export const LOOP_FIX =
  "A provider's baseUrl likely points at a Keyward gateway, this one or one that leads back here (ANTHROPIC_BASE_URL, OPENAI_BASE_URL or GEMINI_BASE_URL set to the gateway's own address in the environment it was started from, say): point the provider's baseUrl at the provider's own API, or unset the variable before starting the gateway";
