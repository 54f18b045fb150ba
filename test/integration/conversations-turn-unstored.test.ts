import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import Database from 'better-sqlite3';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ADMIN_KEY } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { logRecords, startTestGateway, type TestGateway } from '../support/gateway.js';
import { hasPostgres } from '../support/postgres.js';
import { freshDataDir } from '../support/process.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';
import { usePostgres } from '../support/use-postgres.js';

/**
 * A conversation turn whose items the store does not take: the end of the answer is the surface's
 * error (503 `turn_not_stored`), never its success, and the conversation does not hold the turn.
 */
const env = { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY };
/** `TURN_END_MS` in src/conversations/service.ts. */
const TURN_END_MS = 10_000;

function config(openai: FakeProvider, claude: FakeProvider, storage?: { postgres: { url: string } }) {
  return {
    auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
    ...(storage && { storage }),
    providers: [
      { id: 'oa', type: 'openai' as const, baseUrl: openai.baseUrl, keys: { env: 'PROVIDER_KEY' } },
      { id: 'claude', type: 'anthropic' as const, baseUrl: claude.baseUrl, keys: { env: 'PROVIDER_KEY' } },
    ],
    models: [
      { name: 'fast', provider: 'oa', model: 'gpt-4o-mini' },
      { name: 'sonnet', provider: 'claude', model: 'claude-sonnet-4-5' },
    ],
  };
}

/** What a client sees of one turn: its error, or undefined for a success. */
type Turn = (conversation: string) => Promise<unknown>;

async function failure(turn: Promise<unknown>): Promise<{ status?: number; message: string } | undefined> {
  try {
    await turn;
    return undefined;
  } catch (error) {
    return { status: (error as { status?: number }).status, message: String((error as Error).message) };
  }
}

function turns(openai: OpenAI, anthropic: Anthropic): Record<string, Turn> {
  return {
    'responses streamed': async (conversation) => {
      const stream = await openai.responses.create({
        model: 'fast',
        conversation,
        input: 'hi',
        stream: true,
      });
      let completed = false;
      for await (const event of stream) {
        // The SDK yields a Responses stream's error event as an event; a client reads it as the failure.
        if (event.type === 'error') throw new Error(event.message);
        completed ||= event.type === 'response.completed';
      }
      if (!completed) throw new Error('the stream ended without response.completed');
    },
    responses: (conversation) => openai.responses.create({ model: 'fast', conversation, input: 'hi' }),
    'chat with the header streamed': async (conversation) => {
      const stream = await openai.chat.completions.create(
        { model: 'fast', messages: [{ role: 'user', content: 'hi' }], stream: true },
        { headers: { 'x-keyward-conversation': conversation } },
      );
      for await (const _ of stream);
    },
    'chat with the header': (conversation) =>
      openai.chat.completions.create(
        { model: 'fast', messages: [{ role: 'user', content: 'hi' }] },
        { headers: { 'x-keyward-conversation': conversation } },
      ),
    'messages with the header streamed': async (conversation) => {
      const stream = anthropic.messages.stream(
        { model: 'sonnet', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] },
        { headers: { 'x-keyward-conversation': conversation } },
      );
      await stream.finalMessage();
    },
  };
}

let openaiFake: FakeProvider;
let claudeFake: FakeProvider;
beforeAll(async () => {
  openaiFake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
  claudeFake = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
});
afterAll(async () => {
  await openaiFake?.close();
  await claudeFake?.close();
});

function clients(kw: TestGateway) {
  return {
    openai: new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 }),
    anthropic: new Anthropic({ baseURL: kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 }),
  };
}

describe('a conversation turn the store refuses to append', () => {
  let kw: TestGateway;
  let db: Database.Database;
  let openai: OpenAI;
  let all: Record<string, Turn>;
  beforeAll(async () => {
    const dataDir = freshDataDir();
    kw = await startTestGateway(config(openaiFake, claudeFake), env, dataDir);
    db = new Database(join(dataDir, 'keyward.db'));
    ({ openai } = clients(kw));
    all = turns(openai, clients(kw).anthropic);
  });
  afterAll(async () => {
    db?.close();
    await kw?.close();
  });

  /** The store fails every append to `conversation` (a full disk or a broken store would). */
  function refuseAppends(conversation: string): () => void {
    db.exec(
      `CREATE TRIGGER refuse_turn BEFORE INSERT ON conversation_items WHEN NEW.parent_id = '${conversation}'
       BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`,
    );
    return () => db.exec('DROP TRIGGER refuse_turn');
  }

  for (const name of [
    'responses streamed',
    'responses',
    'chat with the header streamed',
    'chat with the header',
    'messages with the header streamed',
  ]) {
    it(`${name}: ends with the error, and the conversation does not hold the turn`, async () => {
      const { id } = await openai.conversations.create({});
      const logged = kw.logs.length;
      const storedResponses = () =>
        (db.prepare(`SELECT count(*) AS n FROM conversations WHERE kind = 'response'`).get() as { n: number })
          .n;
      const responsesBefore = storedResponses();
      const allow = refuseAppends(id);
      let failed: Awaited<ReturnType<typeof failure>>;
      try {
        failed = await failure(all[name]!(id));
      } finally {
        allow();
      }
      expect(failed).toBeDefined();
      expect(failed!.message).toContain(`conversation '${id}'`);
      expect(failed!.message).toContain('may not have been stored');
      // A stream's error event carries no status the SDK reads; the JSON answers carry 503.
      if (!name.endsWith('streamed')) expect(failed!.status).toBe(503);
      // The provider answered: the request is charged its usage all the same.
      await vi.waitFor(() => {
        const request = logRecords(kw.logs.slice(logged)).find((record) => record.route !== undefined);
        expect(request?.tokens).toEqual({ inputTokens: 8, outputTokens: 7 });
      });
      const page = await openai.conversations.items.list(id);
      expect(page.data).toEqual([]);
      // The store's own error is logged once; the conversation is free for the next turn.
      const records = logRecords(kw.logs.slice(logged)).filter(
        (record) => record.msg === 'cannot store a conversation turn',
      );
      expect(records).toHaveLength(1);
      expect(JSON.stringify(records[0])).toContain('disk I/O error');
      await all[name]!(id);
      expect((await openai.conversations.items.list(id)).data.length).toBeGreaterThan(0);
      // A response whose turn was not stored is not stored either: retrieving or continuing it
      // would show a turn its conversation does not hold. Only the second turn's response is.
      if (name.startsWith('responses')) {
        await vi.waitFor(() => expect(storedResponses()).toBeGreaterThan(responsesBefore));
        expect(storedResponses()).toBe(responsesBefore + 1);
      }
    });
  }
});

describe.skipIf(!hasPostgres())(
  'a conversation turn on a Postgres that stops answering (needs postgres)',
  () => {
    const postgres = usePostgres();
    let kw: TestGateway;
    let openai: OpenAI;
    beforeAll(async () => {
      const url = await postgres.database();
      kw = await startTestGateway(config(openaiFake, claudeFake, { postgres: { url } }), env, freshDataDir());
      ({ openai } = clients(kw));
    });
    afterAll(async () => {
      // Only a test stops the cluster, and tests run only once the gateway has started.
      if (kw) signal('SIGCONT');
      await kw?.close();
    });

    /** The postmaster and its backends. */
    function signal(name: 'SIGSTOP' | 'SIGCONT'): void {
      const { pid: postmaster } = postgres.server;
      const children = spawnSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' }).stdout;
      for (const pid of [postmaster, ...children.split('\n').filter(Boolean).map(Number)]) {
        try {
          process.kill(pid, name);
        } catch (error) {
          // A backend that ended since pgrep listed it.
          if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
        }
      }
    }

    it('the streamed answer ends with the error within the bound', async () => {
      const { id } = await openai.conversations.create({});
      // Stopped as the provider answers: the turn holds the conversation, its append hangs.
      openaiFake.script(() => {
        signal('SIGSTOP');
        return { blocks: [{ type: 'text', text: 'Hello.' }], stop: 'end', usage: { input: 8, output: 2 } };
      });
      const started = Date.now();
      try {
        const failed = await failure(turns(openai, clients(kw).anthropic)['responses streamed']!(id));
        expect(failed?.message).toContain('may not have been stored');
        // Bounded, not timed: without the bound the stream waited for Postgres for good.
        expect(Date.now() - started).toBeLessThan(TURN_END_MS + 10_000);
      } finally {
        signal('SIGCONT');
        openaiFake.script({
          blocks: [{ type: 'text', text: 'Hello.' }],
          stop: 'end',
          usage: { input: 8, output: 2 },
        });
      }
    }, 30_000);
  },
);
