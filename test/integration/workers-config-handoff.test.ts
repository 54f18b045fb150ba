import { writeFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { childrenOf } from '../support/proc.js';
import { type RunningGateway, startWorkers, writeTempConfig } from '../support/process.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * `keyward start --workers 2`: the primary reads the configuration for every worker, so a worker
 * that replaces one that died runs as the others do, whatever the file on disk says by then.
 */
describe('keyward start --workers 2: a replaced worker configures itself as the others run', () => {
  let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
  let kw: RunningGateway;
  let file: string;
  // A connection per request, so that the cluster spreads them over both workers.
  const fresh = new Agent({ pipelining: 0, keepAliveTimeout: 1 });
  const config = (models: string[]) => ({
    server: { port: 0 },
    admin: { port: 0 },
    auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
    providers: [{ id: 'oa', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
    models: models.map((name) => ({ name, provider: 'oa', model: 'gpt-4o-mini' })),
  });

  /** Statuses of `n` requests for `model`, each on a connection of its own. */
  const statuses = async (model: string, n = 6) => {
    const seen: number[] = [];
    for (let i = 0; i < n; i++) {
      const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
        method: 'POST',
        dispatcher: fresh,
        headers: {
          authorization: `Bearer ${CLIENT_KEY}`,
          'content-type': 'application/json',
          connection: 'close',
        },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
      });
      await res.body.dump();
      seen.push(res.statusCode);
    }
    return [...new Set(seen)];
  };

  /** Kills one worker and waits until the primary has another serving in its place. */
  const replaceOneWorker = async () => {
    const listening = () => kw.lines.filter((line) => line.includes('keyward listening')).length;
    const before = listening();
    const [victim, survivor] = childrenOf(kw.child.pid!);
    process.kill(victim!, 'SIGKILL');
    await expect
      .poll(() => childrenOf(kw.child.pid!).filter((pid) => pid !== survivor && pid !== victim).length, {
        timeout: 15_000,
      })
      .toBe(1);
    await expect.poll(listening, { timeout: 15_000 }).toBe(before + 1);
  };

  beforeAll(async () => {
    fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    file = writeTempConfig(config(['fast', 'slow']));
    kw = await startWorkers(file, { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY });
  });
  afterAll(async () => {
    kw?.child.kill('SIGKILL');
    await fresh.close();
    await fake?.close();
  });

  it('a replacement runs what the others reloaded, not a file changed since, nor one that no longer loads', async () => {
    writeFileSync(file, JSON.stringify(config(['fast'])));
    kw.child.kill('SIGHUP');
    await expect.poll(() => statuses('slow'), { timeout: 10_000 }).toEqual([404]);

    // Put back as at start, and reloaded: every worker routes the alias again.
    writeFileSync(file, JSON.stringify(config(['fast', 'slow'])));
    kw.child.kill('SIGHUP');
    await expect.poll(() => statuses('slow'), { timeout: 10_000 }).toEqual([200]);

    // Changed on disk, never reloaded: a replacement started from the file would drop the alias.
    writeFileSync(file, JSON.stringify(config(['fast'])));
    await replaceOneWorker();
    expect(await statuses('slow')).toEqual([200]);

    // A file that no longer loads, refused at SIGHUP: a replacement still starts, and serves.
    writeFileSync(file, '{"server": ');
    kw.child.kill('SIGHUP');
    await expect.poll(() => kw.lines.some((line) => line.includes('reload refused'))).toBe(true);
    await replaceOneWorker();
    expect(await statuses('slow')).toEqual([200]);
    expect(await statuses('fast')).toEqual([200]);
  });
});
