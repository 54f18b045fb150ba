import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { childrenOf } from '../support/proc.js';
import {
  freshDataDir,
  type RunningGateway,
  startGatewayProcess,
  startWorkers,
  writeTempConfig,
} from '../support/process.js';
import { PROVIDER_KEY } from '../support/setup.js';

const chunk = (delta: object, extra: object = {}) =>
  `data: ${JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, delta, finish_reason: null }],
    ...extra,
  })}\n\n`;
const USAGE = { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 };

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * The primary of `keyward start --workers 2` dies (the OOM killer, a kill -9): Node's cluster ends
 * each worker at once when its channel to the primary closes, so streams in flight were cut and
 * the usage of requests already answered, still queued for the store, was lost (and with it the
 * spend their budgets reload from it). A worker now stops as at SIGTERM: it drains what it is
 * serving, writes what it holds, and exits.
 */
describe('keyward start --workers 2 when the primary dies', () => {
  let provider: Server;
  let kw: RunningGateway;
  let after: RunningGateway | undefined;
  let release: () => void = () => undefined;
  const dataDir = freshDataDir();
  let config: string;

  beforeAll(async () => {
    provider = createServer((req, res) => {
      let body = '';
      req.on('data', (part: Buffer) => {
        body += part.toString();
      });
      req.on('end', () => {
        if (!(JSON.parse(body) as { stream?: boolean }).stream) {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              id: 'chatcmpl-1',
              object: 'chat.completion',
              created: 1,
              model: 'gpt-4o-mini',
              choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
              usage: USAGE,
            }),
          );
          return;
        }
        // A stream held after its first piece until the test lets it go on.
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(chunk({ role: 'assistant', content: 'one' }));
        release = () => {
          res.write(chunk({ content: ' two' }));
          res.write(chunk({}, { choices: [], usage: USAGE }));
          res.end('data: [DONE]\n\n');
        };
      });
    });
    provider.listen(0, '127.0.0.1');
    await once(provider, 'listening');
    const { port } = provider.address() as AddressInfo;
    config = writeTempConfig({
      server: { port: 0 },
      admin: { port: 0 },
      providers: [
        { id: 'oa', type: 'openai', baseUrl: `http://127.0.0.1:${port}/v1`, keys: { env: 'P_KEY' } },
      ],
      models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
    });
    const env = { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY, KEYWARD_DATA_DIR: dataDir };
    kw = await startWorkers(config, env);
  });
  afterAll(async () => {
    kw?.child.kill('SIGKILL');
    for (const pid of kw?.child.pid ? childrenOf(kw.child.pid) : []) process.kill(pid, 'SIGKILL');
    await after?.stop();
    provider?.closeAllConnections();
    provider?.close();
  });

  it('lets its workers finish their streams and write their usage before they exit', async () => {
    const { id, token } = (await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'orphaned' }))
      .json as { id: string; token: string };
    const chat = (stream: boolean) =>
      request(`${kw.dataUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          connection: 'close',
        },
        body: JSON.stringify({ model: 'fast', stream, messages: [{ role: 'user', content: 'hi' }] }),
      });
    for (let i = 0; i < 6; i++) {
      const res = await chat(false);
      await res.body.dump();
      expect(res.statusCode).toBe(200);
    }
    const streamed = await chat(true);
    expect(streamed.statusCode).toBe(200);
    const pieces: string[] = [];
    const read = (async () => {
      for await (const piece of streamed.body) pieces.push(piece.toString());
    })().then(
      () => 'ended',
      () => 'cut',
    );
    await expect.poll(() => pieces.join('')).toContain('one');

    const primary = kw.child.pid!;
    const workers = childrenOf(primary);
    expect(workers).toHaveLength(2);
    process.kill(primary, 'SIGKILL');
    await kw.exited;
    await new Promise((resolve) => setTimeout(resolve, 300));
    release();

    expect(await read).toBe('ended');
    expect(pieces.join('')).toContain('[DONE]');
    await expect.poll(() => workers.filter(alive), { timeout: 15_000, interval: 100 }).toEqual([]);

    // Restarted on the same store: every answered request was written, the stream's too.
    after = await startGatewayProcess(config, {
      P_KEY: PROVIDER_KEY,
      KEYWARD_ADMIN_KEY: ADMIN_KEY,
      KEYWARD_DATA_DIR: dataDir,
    });
    const usage = await adminCall(after.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${id}`);
    expect(usage.json.rows[0]).toMatchObject({ requests: 7, inputTokens: 35, outputTokens: 35 });
  }, 60_000);
});
