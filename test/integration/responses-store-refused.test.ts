import { join } from 'node:path';
import Database from 'better-sqlite3';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import {
  freshDataDir,
  type RunningGateway,
  startGatewayProcess,
  writeTempConfig,
} from '../support/process.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';
import { lockStore } from '../support/store-lock.js';

/**
 * A stored response is answered before its write commits. When the store refuses the write for a
 * fault of its own (here another process holds SQLite's write lock past the store's 5 s wait, as a
 * backup would; a Postgres restarting or a full disk alike), the response was acknowledged all the
 * same: it is written again once the store takes it, it is not answered 404 meanwhile, and one
 * deleted meanwhile stays deleted.
 */
/** Longer than the store's busy_timeout (5 s): the first attempt has been refused by then. */
const PAST_FIRST_ATTEMPT_MS = 6_000;
/** Another client of the same gateway: it owns nothing of the first one's. */
const OTHER_KEY = 'kw-test-other-client-key-5e8b2d7a41c9';

let fake: FakeProvider;
let kw: RunningGateway;
let openai: OpenAI;
const dataDir = freshDataDir();
beforeAll(async () => {
  fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
  const config = writeTempConfig({
    server: { port: 0 },
    admin: { port: 0 },
    auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
    providers: [{ id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'PROVIDER_KEY' } }],
    models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
  });
  kw = await startGatewayProcess(config, {
    KEYWARD_API_KEY: `${CLIENT_KEY},${OTHER_KEY}`,
    PROVIDER_KEY,
    KEYWARD_DATA_DIR: dataDir,
  });
  openai = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0, timeout: 30_000 });
});
afterAll(async () => {
  kw?.child.kill('SIGTERM');
  await kw?.exited;
  await fake?.close();
});

function storedCount(id: string): number {
  const db = new Database(join(dataDir, 'keyward.db'), { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM conversations WHERE id = ?').get(id) as { n: number }).n;
  } finally {
    db.close();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a stored response the store refuses at first', () => {
  it('is answered 503 while it waits, then written once the store takes it, and can be continued', async () => {
    const { release } = await lockStore(join(dataDir, 'keyward.db'));
    let id: string;
    try {
      ({ id } = await openai.responses.create({ model: 'fast', input: 'keep me' }));
      // On its way still: its owner is told to retry, not that it does not exist; anyone else
      // is told it does not exist, as for any response not theirs.
      const other = new OpenAI({
        baseURL: `${kw.dataUrl}/v1`,
        apiKey: OTHER_KEY,
        maxRetries: 0,
        timeout: 30_000,
      });
      await Promise.all([
        expect(openai.responses.retrieve(id)).rejects.toMatchObject({
          status: 503,
          error: expect.objectContaining({ code: 'store_unavailable' }),
        }),
        expect(other.responses.retrieve(id)).rejects.toMatchObject({ status: 404 }),
        // Nor can anyone else delete it on its way.
        expect(other.responses.delete(id)).rejects.toMatchObject({ status: 404 }),
      ]);
      expect(storedCount(id)).toBe(0);
    } finally {
      await release();
    }
    await vi.waitFor(() => expect(storedCount(id)).toBe(1), { timeout: 10_000, interval: 100 });
    expect((await openai.responses.retrieve(id)).id).toBe(id);
    const next = await openai.responses.create({
      model: 'fast',
      input: 'and then?',
      previous_response_id: id,
    });
    expect(next.previous_response_id).toBe(id);
  }, 40_000);

  it('deleted while its first attempt waits for the store is not written afterwards', async () => {
    const { release } = await lockStore(join(dataDir, 'keyward.db'));
    let id: string;
    try {
      ({ id } = await openai.responses.create({ model: 'fast', input: 'forget me' }));
      // Answered as any other delete at once, though the write has not been refused yet.
      await openai.responses.delete(id);
      await sleep(PAST_FIRST_ATTEMPT_MS);
    } finally {
      await release();
    }
    // A later response lands, so any attempt due has had its turn.
    const later = await openai.responses.create({ model: 'fast', input: 'later' });
    await vi.waitFor(() => expect(storedCount(later.id)).toBe(1), { timeout: 10_000, interval: 100 });
    await sleep(1_000);
    expect(storedCount(id)).toBe(0);
    await expect(openai.responses.retrieve(id)).rejects.toMatchObject({ status: 404 });
  }, 40_000);
});
