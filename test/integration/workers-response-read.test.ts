import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { freshDataDir, type RunningGateway, startWorkers, writeTempConfig } from '../support/process.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';
import { lockStore } from '../support/store-lock.js';

/**
 * A stored response is answered before its batch commits, and another process on the same store
 * (a worker of `--workers`, an instance on Postgres) found no such id until it did: a client's
 * next call, sent at once and reaching another process, got 404 (7–55 ms after the answer in a
 * reviewer's run across instances). A miss on an id made moments ago is now read again until the
 * write lands. Here the store's write lock is held by another process, so that the commit waits.
 */
describe('keyward start --workers 2: a stored response read at once through the other worker', () => {
  let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
  let kw: RunningGateway;
  const dataDir = freshDataDir();
  // A connection per request, so that the cluster spreads them over both workers.
  const fresh = new Agent({ pipelining: 0, keepAliveTimeout: 1 });
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const res = await request(`${kw.dataUrl}${path}`, {
      method,
      dispatcher: fresh,
      headers: {
        authorization: `Bearer ${CLIENT_KEY}`,
        'content-type': 'application/json',
        connection: 'close',
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: res.statusCode, json: (await res.body.json()) as { id?: string; status?: string } };
  };

  beforeAll(async () => {
    fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    const config = writeTempConfig({
      server: { port: 0 },
      admin: { port: 0 },
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [{ id: 'oa', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
    });
    kw = await startWorkers(config, {
      P_KEY: PROVIDER_KEY,
      KEYWARD_ADMIN_KEY: ADMIN_KEY,
      KEYWARD_API_KEY: CLIENT_KEY,
      KEYWARD_DATA_DIR: dataDir,
    });
  });
  afterAll(async () => {
    await kw?.stop();
    await fresh.close();
    await fake?.close();
  });

  it('finds it on both workers once the write lands, where the other worker said 404', async () => {
    const locker = await lockStore(join(dataDir, 'keyward.db'));
    try {
      const created = await call('POST', '/v1/responses', { model: 'fast', input: 'Remember 42.' });
      expect(created.status).toBe(200);
      const id = created.json.id!;
      // Read through both workers (fresh connections alternate) while the commit waits for the lock.
      const reads = Promise.all([1, 2, 3, 4].map(() => call('GET', `/v1/responses/${id}`)));
      // Released at once: the commit still lands after the first reads (the writer is asleep in
      // SQLite's busy handler), and well within the 630 ms the other worker reads again for, even
      // on a loaded machine, where 200 ms here made it miss now and then.
      setTimeout(() => void locker.release(), 20);
      const answers = await reads;
      expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
      expect(answers.every((answer) => answer.json.id === id && answer.json.status === 'completed')).toBe(
        true,
      );
    } finally {
      await locker.release();
    }
  });

  it('an unknown id is still 404, at once when it was not made moments ago', async () => {
    const old = `resp_${(Date.now() - 60_000).toString(16).padStart(12, '0')}${'0'.repeat(24)}`;
    expect((await call('GET', `/v1/responses/${old}`)).status).toBe(404);
    const recent = `resp_${Date.now().toString(16).padStart(12, '0')}${'0'.repeat(24)}`;
    expect((await call('GET', `/v1/responses/${recent}`)).status).toBe(404);
  });
});
