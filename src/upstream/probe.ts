import type { Dispatcher } from 'undici';
import { readCapped } from './read-capped.js';

/** A probe answer is read for its error code only; a provider cannot make us buffer more. */
const MAX_PROBE_BODY = 64 * 1024;

/**
 * One GET with a provider key, outside any client request: its status and (capped) body.
 * Bounded in time so that a hanging provider holds no probe slot for long.
 */
export async function probeUpstream(
  dispatcher: Dispatcher,
  call: { path: string; headers: Record<string, string> },
  timeoutMs: number,
): Promise<{ status: number; body: string }> {
  const response = await dispatcher.request({
    method: 'GET',
    path: call.path,
    headers: call.headers,
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (response.statusCode >= 200 && response.statusCode < 300) {
    await response.body.dump();
    return { status: response.statusCode, body: '' };
  }
  return { status: response.statusCode, body: await readCapped(response.body, MAX_PROBE_BODY) };
}
