import { join } from 'node:path';
import Database from 'better-sqlite3';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ADMIN_KEY } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { freshDataDir } from '../support/process.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * A stored response is answered before its write commits. When the store refuses the write (a
 * Postgres restarting, a full disk), the response was acknowledged all the same: it is written
 * again once the store takes it, and one deleted meanwhile stays deleted.
 */
const env = { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY };

let fake: FakeProvider;
let kw: TestGateway;
let db: Database.Database;
let openai: OpenAI;
beforeAll(async () => {
  fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
  const dataDir = freshDataDir();
  kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [{ id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'PROVIDER_KEY' } }],
      models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
    },
    env,
    dataDir,
  );
  db = new Database(join(dataDir, 'keyward.db'));
  openai = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
});
afterAll(async () => {
  db?.close();
  await kw?.close();
  await fake?.close();
});

/** The store refuses every stored response until the returned function is called. */
function refuseResponses(): () => void {
  db.exec(
    `CREATE TRIGGER refuse_responses BEFORE INSERT ON conversations WHEN NEW.kind = 'response'
     BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`,
  );
  return () => db.exec('DROP TRIGGER refuse_responses');
}

const storedCount = (id: string) =>
  (db.prepare('SELECT count(*) AS n FROM conversations WHERE id = ?').get(id) as { n: number }).n;

describe('a stored response the store refuses at first', () => {
  it('is written once the store takes it again, and can then be retrieved and continued', async () => {
    const allow = refuseResponses();
    let id: string;
    try {
      ({ id } = await openai.responses.create({ model: 'fast', input: 'keep me' }));
      // Refused at least once, and held: nothing in the store yet.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(storedCount(id)).toBe(0);
    } finally {
      allow();
    }
    await vi.waitFor(() => expect(storedCount(id)).toBe(1), { timeout: 8_000 });
    expect((await openai.responses.retrieve(id)).id).toBe(id);
    const next = await openai.responses.create({
      model: 'fast',
      input: 'and then?',
      previous_response_id: id,
    });
    expect(next.previous_response_id).toBe(id);
  });

  it('deleted while it waits is not written afterwards', async () => {
    const allow = refuseResponses();
    let id: string;
    try {
      ({ id } = await openai.responses.create({ model: 'fast', input: 'forget me' }));
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Answered as any other delete: the client was told the response was stored.
      await openai.responses.delete(id);
    } finally {
      allow();
    }
    // A later response lands, so any retry due has had its turn.
    const later = await openai.responses.create({ model: 'fast', input: 'later' });
    await vi.waitFor(() => expect(storedCount(later.id)).toBe(1), { timeout: 8_000 });
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(storedCount(id)).toBe(0);
    await expect(openai.responses.retrieve(id)).rejects.toMatchObject({ status: 404 });
  });
});
