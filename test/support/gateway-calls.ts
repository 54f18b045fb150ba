import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import type { RunningGateway } from './process.js';
import { CLIENT_KEY } from './setup.js';

/** The first line holding `text`, waiting for the gateway's batched log to be written out. */
export async function lineWith(gw: RunningGateway, text: string): Promise<string | undefined> {
  for (let waited = 0; waited < 5_000; waited += 50) {
    const line = gw.lines.find((candidate) => candidate.includes(text));
    if (line) return line;
    await sleep(50);
  }
  return undefined;
}

/** The status of one chat completion to `model`, sent with CLIENT_KEY. */
export async function chat(gw: RunningGateway, model: string): Promise<number> {
  const res = await request(`${gw.dataUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.body.dump();
  return res.statusCode;
}

/** An admin route's JSON answer. */
export async function adminGet(gw: RunningGateway, adminKey: string, path: string): Promise<unknown> {
  const res = await request(`${gw.adminUrl}${path}`, { headers: { authorization: `Bearer ${adminKey}` } });
  return res.body.json();
}
