import type { Dispatcher } from 'undici';

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
  let body = '';
  for await (const chunk of response.body) {
    body += (chunk as Buffer).toString('utf8');
    if (body.length > MAX_PROBE_BODY) {
      response.body.destroy();
      break;
    }
  }
  return { status: response.statusCode, body: body.slice(0, MAX_PROBE_BODY) };
}
