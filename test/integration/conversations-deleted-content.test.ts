import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { openJson } from '../../src/conversations/sealing.js';
import { type MasterKey, readMasterKeyFile } from '../../src/keys/index.js';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway } from '../support/gateway.js';
import {
  freshDataDir,
  type RunningGateway,
  startGatewayProcess,
  writeTempConfig,
} from '../support/process.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * What is deleted cannot be read back from the SQLite files with the master key beside them: not
 * from free page space (`secure_delete`), nor from the WAL's older frames (a checkpoint after it).
 */
const say = (text: string): Script => ({
  blocks: [{ type: 'text', text }],
  stop: 'end',
  usage: { input: 9, output: 4 },
});

/** A gateway on the test's data directory, and how to stop it gracefully. */
interface Running {
  dataUrl: string;
  adminUrl: string;
  stop(): Promise<void>;
}

const ENV = { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY };
const configFor = (fake: FakeProvider) => ({
  auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
  providers: [{ id: 'claude', type: 'anthropic', baseUrl: fake.baseUrl, keys: { env: 'PROVIDER_KEY' } }],
  models: [{ name: 'smart', provider: 'claude', model: 'claude-sonnet-4-5' }],
});

const STARTS: Record<string, (fake: FakeProvider, dataDir: string) => Promise<Running>> = {
  'in process': async (fake, dataDir) => {
    const kw = await startTestGateway(configFor(fake) as ConfigInput, ENV, dataDir);
    return { ...kw, stop: () => kw.close() };
  },
  // As deployed: stored responses are written by the writer thread, on a connection of its own.
  'keyward start': async (fake, dataDir) => {
    const config = writeTempConfig({ ...configFor(fake), server: { port: 0 }, admin: { port: 0 } });
    const gw = await startGatewayProcess(config, { ...ENV, KEYWARD_DATA_DIR: dataDir });
    stopping.push(gw);
    return {
      ...gw,
      async stop() {
        gw.child.kill('SIGTERM');
        expect(await gw.exited).toBe(0);
      },
    };
  },
};

let fake: FakeProvider | undefined;
let running: Running | undefined;
const stopping: RunningGateway[] = [];
afterEach(async () => {
  await running?.stop().catch(() => undefined);
  running = undefined;
  for (const gw of stopping.splice(0)) if (gw.child.exitCode === null) gw.child.kill('SIGKILL');
  await fake?.close();
  fake = undefined;
});

/** Every `kw1:` envelope in the store's files, as bytes hold them (a zeroed one no longer matches). */
function sealedIn(dataDir: string): { sealed: string[]; bytes: Buffer } {
  const bytes = Buffer.concat(
    ['keyward.db', 'keyward.db-wal']
      .map((name) => join(dataDir, name))
      .filter((path) => existsSync(path))
      .map((path) => readFileSync(path)),
  );
  return { sealed: bytes.toString('latin1').match(/kw1:[A-Za-z0-9_-]+:[A-Za-z0-9_-]{20,}/g) ?? [], bytes };
}

/** The texts of the envelopes that open under one of `bindings` (owner, record id or item key). */
function opened(
  master: MasterKey,
  sealed: readonly string[],
  bindings: ReadonlyArray<[string, string]>,
): string[] {
  const texts: string[] = [];
  for (const text of sealed)
    for (const [owner, id] of bindings) {
      try {
        texts.push(JSON.stringify(openJson([master], text, owner, id)));
      } catch {
        // Sealed for another binding, or cut short where its row was zeroed.
      }
    }
  return texts;
}

describe('deleted conversation content', () => {
  it.each(Object.keys(STARTS))(
    'leaves the database file and its WAL, where the master key cannot open it (%s)',
    async (how) => {
      fake = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
      const dataDir = freshDataDir();
      running = await STARTS[how]!(fake, dataDir);
      const { adminUrl, dataUrl } = running;
      const client = async (user: string) => {
        const minted = await adminCall(adminUrl, 'POST', '/admin/tokens', { name: user, userId: user });
        return new OpenAI({ baseURL: `${dataUrl}/v1`, apiKey: minted.json.token, maxRetries: 0 });
      };
      const [alice, bob] = [await client('alice'), await client('bob')];
      const bindings: Array<[string, string]> = [];
      /** A record, its items and their bindings, to try every envelope found against. */
      const remember = (owner: string, parentId: string, items: Array<{ id?: string }>) => {
        bindings.push(
          [owner, parentId],
          ...items.map((item): [string, string] => [owner, `${parentId}/${item.id}`]),
        );
      };

      // A conversation with a turn stored in it, deleted whole (its response goes with it).
      const chat = await alice.conversations.create({
        items: [{ role: 'user', content: 'DELETED-conversation-item' }],
      });
      fake.script(say('DELETED-answer-in-conversation'));
      const turn = await alice.responses.create({
        model: 'smart',
        conversation: chat.id,
        input: 'DELETED-turn-input',
      });
      remember('user:alice', chat.id, (await alice.conversations.items.list(chat.id)).data);
      remember('user:alice', turn.id, [
        ...(await alice.responses.inputItems.list(turn.id)).data,
        ...turn.output,
      ]);
      // A stored response, deleted by its id.
      fake.script(say('DELETED-standalone-answer'));
      const standalone = await alice.responses.create({ model: 'smart', input: 'DELETED-standalone-input' });
      remember('user:alice', standalone.id, [
        ...(await alice.responses.inputItems.list(standalone.id)).data,
        ...standalone.output,
      ]);
      // One item of a conversation that stays.
      const kept = await alice.conversations.create({
        items: [
          { role: 'user', content: 'KEPT-item' },
          { role: 'user', content: 'DELETED-single-item' },
        ],
      });
      const keptItems = (await alice.conversations.items.list(kept.id, { order: 'asc' })).data;
      remember('user:alice', kept.id, keptItems);
      // A user's whole store, purged by the operator.
      const bobs = await bob.conversations.create({
        items: [{ role: 'user', content: 'DELETED-purged-item' }],
      });
      remember('user:bob', bobs.id, (await bob.conversations.items.list(bobs.id)).data);

      await alice.conversations.delete(chat.id);
      await alice.responses.delete(standalone.id);
      await alice.conversations.items.delete(keptItems[1]!.id!, { conversation_id: kept.id });
      expect((await adminCall(adminUrl, 'DELETE', '/admin/conversations?user=bob')).json.deleted).toBe(1);
      const deletedIds = [chat.id, turn.id, standalone.id, bobs.id];

      const master = readMasterKeyFile(join(dataDir, 'master.key'), false).master;
      const leftovers = () => {
        const { sealed, bytes } = sealedIn(dataDir);
        const texts = opened(master, sealed, bindings);
        return {
          // Finding what was kept shows that the search reads where the content went.
          kept: texts.some((text) => text.includes('KEPT-item')),
          deleted: [...new Set(texts.flatMap((text) => text.match(/DELETED-[a-z-]+/g) ?? []))].sort(),
          ids: deletedIds.filter((id) => bytes.includes(Buffer.from(id))),
        };
      };
      // The WAL is wiped a little after the deletions, while the gateway runs.
      const clean = { kept: true, deleted: [], ids: [] };
      let found = leftovers();
      for (const deadline = Date.now() + 5000; Date.now() < deadline; found = leftovers()) {
        if (found.deleted.length === 0 && found.ids.length === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(found).toEqual(clean);
      const stopped = running;
      running = undefined;
      await stopped.stop();
      expect(leftovers()).toEqual(clean);
    },
  );
});
