import { join } from 'node:path';
import Database from 'better-sqlite3';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/index.js';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { hasPostgres } from '../support/postgres.js';
import { freshDataDir, runCli } from '../support/process.js';
import { usePostgres } from '../support/use-postgres.js';

const PROVIDER_KEY = 'sk-token-test-provider-key-0123456789';

type Fake = Awaited<ReturnType<typeof startFakeOpenAI>>;
let fake: Fake | undefined;
const gateways: TestGateway[] = [];
afterEach(async () => {
  for (const kw of gateways.splice(0)) await kw.close();
  await fake?.close();
  fake = undefined;
});

async function start(
  dataDir = freshDataDir(),
  storage?: { postgres: { url: string } },
): Promise<TestGateway> {
  fake ??= await startFakeOpenAI({ keys: [PROVIDER_KEY] });
  const kw = await startTestGateway(
    {
      ...(storage && { storage }),
      providers: [
        { id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } },
        { id: 'other', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } },
      ],
      models: [
        { name: 'fast', provider: 'fake', model: 'gpt-4o-mini' },
        { name: 'elsewhere', provider: 'other', model: 'gpt-4o-mini' },
      ],
      // Some tests run two instances on one store, each with limits of its own.
      rateLimits: { perInstance: true },
    },
    { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    dataDir,
  );
  gateways.push(kw);
  return kw;
}

async function admin(
  kw: TestGateway,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  credential = ADMIN_KEY,
) {
  return adminCall(kw.adminUrl, method, path, body, credential);
}

async function mint(kw: TestGateway, spec: Record<string, unknown>, credential = ADMIN_KEY) {
  const res = await admin(kw, 'POST', '/admin/tokens', spec, credential);
  return res;
}

async function chat(
  kw: TestGateway,
  token: string,
  body: Record<string, unknown> = {},
  path = '/v1/chat/completions',
) {
  const res = await request(`${kw.dataUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }], ...body }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: JSON.parse(text), text };
}

describe('gateway tokens', () => {
  it('are shown once, stored only as a keyed hash, and work with the official SDK', async () => {
    const kw = await start();
    const created = await mint(kw, { name: 'app', userId: 'u1', clientId: 'web' });
    expect(created.status).toBe(201);
    const token = created.json.token as string;
    expect(token).toMatch(/^kw_[a-z2-7]{12}_[A-Za-z0-9_-]{43}$/);
    expect(created.json).not.toHaveProperty('secretHash');
    expect(created.json.scopes).toEqual(['models:read', 'chat', 'embeddings']);

    const client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: token, maxRetries: 0 });
    const reply = await client.chat.completions.create({
      model: 'fast',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(reply.choices[0]?.message.content).toContain('Hello from the fake provider');

    const listed = await admin(kw, 'GET', '/admin/tokens');
    expect(listed.json.tokens.map((t: { id: string }) => t.id)).toEqual([created.json.id]);
    expect(listed.text).not.toContain(token.slice(16));
    expect(listed.text).not.toContain('secretHash');
    const line = kw.logs.find((l) => l.includes('"route":"/v1/chat/completions"'));
    expect(line).toContain(`"client":"kw_${created.json.id}"`);
    expect(kw.logs.join('')).not.toContain(token.slice(16));
  });

  it('refuse expired, revoked, tampered and wrong-scope tokens with bodies that name no key, hash or table', async () => {
    const kw = await start();
    const good = (await mint(kw, { name: 'good' })).json;
    const short = (await mint(kw, { name: 'short', expiresIn: '1s' })).json;
    const embeddingsOnly = (await mint(kw, { name: 'emb', scopes: ['embeddings'] })).json;
    const stored = await admin(kw, 'GET', `/admin/tokens/${good.id}`);

    const tampered = `${good.token.slice(0, -1)}${good.token.endsWith('A') ? 'B' : 'A'}`;
    const answers = [await chat(kw, tampered)];
    expect(answers[0]).toMatchObject({ status: 401, json: { error: { code: 'invalid_credential' } } });

    const scoped = await chat(kw, embeddingsOnly.token);
    expect(scoped).toMatchObject({
      status: 403,
      json: { error: { code: 'insufficient_scope', type: 'permission_error' } },
    });
    answers.push(scoped);

    await new Promise((resolve) => setTimeout(resolve, 1100));
    const expired = await chat(kw, short.token);
    expect(expired).toMatchObject({ status: 401, json: { error: { code: 'token_expired' } } });
    answers.push(expired);

    expect((await chat(kw, good.token)).status).toBe(200);
    expect((await admin(kw, 'DELETE', `/admin/tokens/${good.id}`)).json.revokedAt).not.toBeNull();
    const revoked = await chat(kw, good.token);
    expect(revoked).toMatchObject({ status: 401, json: { error: { code: 'token_revoked' } } });
    answers.push(revoked);

    for (const answer of answers) {
      for (const forbidden of [
        good.token,
        good.token.slice(16),
        'secret_hash',
        'secretHash',
        'tokens',
        'sqlite',
        stored.json.id,
      ]) {
        expect(answer.text).not.toContain(forbidden);
      }
    }
  });

  it('hold requests to their models, providers and max_tokens, and list only their models', async () => {
    const kw = await start();
    const limited = (
      await mint(kw, { name: 'lim', models: ['fast', 'other/gpt-4o'], providers: ['fake'], maxTokens: 50 })
    ).json;
    expect((await chat(kw, limited.token, { model: 'elsewhere' })).json.error.code).toBe('model_not_allowed');
    expect((await chat(kw, limited.token, { model: 'other/gpt-4o' })).json.error.code).toBe(
      'model_not_allowed',
    );
    const over = await chat(kw, limited.token, { max_tokens: 100 });
    expect(over).toMatchObject({
      status: 400,
      json: { error: { code: 'max_tokens_exceeded', param: 'max_tokens' } },
    });

    fake!.reset();
    expect((await chat(kw, limited.token)).status).toBe(200);
    expect((fake!.requests[0]!.body as { max_completion_tokens?: number }).max_completion_tokens).toBe(50);

    const models = await request(`${kw.dataUrl}/v1/models`, {
      headers: { authorization: `Bearer ${limited.token}` },
    });
    expect(((await models.body.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id)).toEqual([
      'fast',
    ]);
  });

  it('check the client address against the IP allowlist', async () => {
    const kw = await start();
    const far = (await mint(kw, { name: 'far', ipAllowlist: ['10.0.0.0/8'] })).json;
    const near = (await mint(kw, { name: 'near', ipAllowlist: ['127.0.0.0/8', '::1/128'] })).json;
    expect((await chat(kw, far.token)).json.error.code).toBe('ip_not_allowed');
    expect((await chat(kw, near.token)).status).toBe(200);
  });

  it('minted by a token without a user, belongs to no user either', async () => {
    const kw = await start();
    // A delegated admin token that belongs to no user, as an operator makes one for a team.
    const delegate = (await mint(kw, { name: 'delegate', scopes: ['admin', 'chat'] })).json;
    // Naming a user, the child would spend that user's budget and limits and read what the user
    // stored: its conversations and responses, which the delegate itself cannot read.
    const named = await mint(kw, { name: 'as-alice', userId: 'alice' }, delegate.token);
    expect(named.status).toBe(403);
    expect(named.json.error).toMatchObject({
      code: 'token_wider_than_creator',
      message: expect.stringContaining('userId'),
    });
    const child = await mint(kw, { name: 'userless', scopes: ['chat'] }, delegate.token);
    expect(child.status).toBe(201);
    expect(child.json.userId).toBeNull();
  });

  it('minted for a user by a creator without one, as minting allowed before, is refused', async () => {
    const dataDir = freshDataDir();
    let kw = await start(dataDir);
    const delegate = (await mint(kw, { name: 'delegate', scopes: ['admin', 'chat'] })).json;
    const child = (await mint(kw, { name: 'made-before', scopes: ['chat'] }, delegate.token)).json;
    expect((await chat(kw, child.token)).status).toBe(200);
    await kw.close();
    // The token as such a mint left it in the store.
    const db = new Database(join(dataDir, 'keyward.db'));
    db.prepare("UPDATE tokens SET user_id = 'alice' WHERE id = ?").run(child.id);
    db.close();
    kw = await start(dataDir);
    const refused = await chat(kw, child.token);
    expect(refused.status).toBe(401);
    expect(refused.json.error.code).toBe('token_revoked');
    expect((await chat(kw, delegate.token)).status).toBe(200);
  });

  it('can mint only narrower tokens, and administer only tokens, never keys', async () => {
    const kw = await start();
    const parent = (
      await mint(kw, {
        name: 'parent',
        scopes: ['admin', 'chat'],
        models: ['fast'],
        limits: { rpm: 10 },
        expiresIn: '1d',
        userId: 'alice',
        metadata: { tier: 'free' },
      })
    ).json;
    const wider = [
      { name: 'w1', scopes: ['chat', 'embeddings'] },
      { name: 'w2', models: ['fast', 'elsewhere'] },
      { name: 'w3', limits: { rpm: 11 } },
      { name: 'w4', expiresIn: '2d' },
      // Another user's token would spend as that user and read what that user stored.
      { name: 'w5', userId: 'bob' },
      // Another tier may have higher rate limits.
      { name: 'w6', metadata: { tier: 'enterprise' } },
      { name: 'w7', metadata: { team: 'x', tier: '' } },
    ];
    for (const spec of wider) {
      const res = await mint(kw, spec, parent.token);
      expect(res.status, JSON.stringify(spec)).toBe(403);
      expect(res.json.error.code).toBe('token_wider_than_creator');
    }
    const child = await mint(kw, { name: 'child', scopes: ['chat'] }, parent.token);
    expect(child.status).toBe(201);
    expect(child.json).toMatchObject({
      models: ['fast'],
      limits: { rpm: 10 },
      userId: 'alice',
      metadata: { tier: 'free' },
      createdBy: parent.id,
    });
    expect((await chat(kw, child.json.token)).status).toBe(200);

    const seen = await admin(kw, 'GET', '/admin/tokens', undefined, parent.token);
    expect(seen.json.tokens.map((t: { name: string }) => t.name).sort()).toEqual(['child', 'parent']);
    expect((await admin(kw, 'GET', '/admin/keys', undefined, parent.token)).json.error.code).toBe(
      'admin_key_required',
    );
    expect((await admin(kw, 'GET', '/admin/tokens', undefined, child.json.token)).json.error.code).toBe(
      'insufficient_scope',
    );
  });

  it('refuse user and client ids no store can keep, for tokens and browser sessions alike', async () => {
    const kw = await start();
    // A NUL fails Postgres's whole usage and audit batch, everyone's rows with it; a line break
    // forges log lines; an unpaired surrogate is stored as another user's U+FFFD.
    for (const [field, value] of [
      ['userId', 'al\u0000ice'],
      ['userId', 'alice\nbob'],
      ['userId', 'al\ud800ice'],
      ['clientId', 'app\u0007'],
      ['name', 'ci\u0000'],
    ] as const) {
      const res = await mint(kw, { name: 'odd', [field]: value });
      expect(res.status, JSON.stringify(value)).toBe(400);
      expect(res.json.error.message).toContain(field);
      const session = await admin(kw, 'POST', '/admin/sessions', { userId: value });
      if (field === 'userId') expect(session.status, JSON.stringify(value)).toBe(400);
    }
    expect((await mint(kw, { name: 'fine', userId: 'Zoë Åström 🦊' })).status).toBe(201);
  });

  it("hold a minted token to its creator's limits and budget, and end with its creator", async () => {
    fake ??= await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    const kw = await startTestGateway(
      {
        providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
        models: [{ name: 'fast', provider: 'fake', model: 'dear-model' }],
        // A cent a token: a short chat costs about a tenth of the budget.
        pricing: { 'dear-model': { input: 10_000, output: 10_000 } },
      },
      { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
    gateways.push(kw);
    const parent = (
      await mint(kw, {
        name: 'team',
        scopes: ['admin', 'chat'],
        budget: { usd: 1, period: 'day' },
        limits: { rpm: 100 },
      })
    ).json;
    // Each as wide as the parent: together they must not spend more than it may.
    const first = (await mint(kw, { name: 'one', scopes: ['admin', 'chat'] }, parent.token)).json;
    const second = (await mint(kw, { name: 'two', scopes: ['chat'] }, parent.token)).json;
    const grandchild = (await mint(kw, { name: 'three', scopes: ['chat'] }, first.token)).json;
    expect(grandchild.budget).toEqual({ usd: 1, period: 'day' });

    let answered = 0;
    let refused: { status: number; json: { error: { code: string; message: string } } } | undefined;
    for (let i = 0; i < 20 && !refused; i++) {
      const res = await chat(kw, first.token, { max_tokens: 5 });
      if (res.status === 200) answered++;
      else refused = res;
    }
    expect(answered).toBeGreaterThan(0);
    expect(refused?.status).toBe(429);
    expect(refused?.json.error.code).toBe('budget_exceeded');
    // The second token's own budget is untouched; its creator's is spent.
    for (const token of [second.token, grandchild.token]) {
      const res = await chat(kw, token, { max_tokens: 5 });
      expect(res.status).toBe(429);
      expect(res.json.error).toMatchObject({ code: 'budget_exceeded' });
      expect(res.json.error.message).toContain('a token this one was minted under');
    }

    expect((await admin(kw, 'DELETE', `/admin/tokens/${parent.id}`)).status).toBe(200);
    for (const token of [first.token, second.token, grandchild.token]) {
      expect((await chat(kw, token)).json.error.code).toBe('token_revoked');
    }
    // Revoked in the store too, as the admin API lists them.
    const shown = await admin(kw, 'GET', `/admin/tokens/${grandchild.id}`);
    expect(shown.json.revokedAt).toEqual(expect.any(String));
  });

  it('revoked again, answer as before and record the revocation once', async () => {
    const kw = await start();
    const { json: token } = await admin(kw, 'POST', '/admin/tokens', { name: 'twice' });
    const first = await admin(kw, 'DELETE', `/admin/tokens/${token.id}`);
    const again = await admin(kw, 'DELETE', `/admin/tokens/${token.id}`);
    expect(first.status).toBe(200);
    expect(again).toMatchObject({ status: 200, json: { id: token.id, revokedAt: first.json.revokedAt } });
    const audit = await admin(kw, 'GET', '/admin/audit?type=token.revoked');
    expect(audit.json.records.map((record: { data: unknown }) => record.data)).toEqual([
      { tokenId: token.id },
    ]);
  });

  it('revocation on one instance reaches another sharing the store within a second', async () => {
    const dataDir = freshDataDir();
    const first = await start(dataDir);
    const second = await start(dataDir);
    const token = (await mint(first, { name: 'shared' })).json;
    // Created elsewhere: the second instance finds it in the store on first use.
    expect((await chat(second, token.token)).status).toBe(200);
    expect((await admin(first, 'DELETE', `/admin/tokens/${token.id}`)).status).toBe(200);
    const revokedAt = Date.now();
    await expect
      .poll(async () => (await chat(second, token.token)).status, { timeout: 1000, interval: 50 })
      .toBe(401);
    expect(Date.now() - revokedAt).toBeLessThan(1000);
  });

  it('reach an instance when the revoking one stamped them seconds behind its clock', async () => {
    const dataDir = freshDataDir();
    const kw = await start(dataDir);
    const token = (await mint(kw, { name: 'skewed' })).json;
    expect((await chat(kw, token.token)).status).toBe(200);
    // Let a look at the store's revocations pass, then revoke as an instance whose clock is 5 s
    // behind (or whose commit waited that long): its stamp is older than the last look.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const elsewhere = openSqliteStore(join(dataDir, 'keyward.db'));
    try {
      expect(await elsewhere.tokens.revoke(token.id, Date.now() - 5_000)).toBe(true);
    } finally {
      await elsewhere.close();
    }
    await expect
      .poll(async () => (await chat(kw, token.token)).status, { timeout: 2000, interval: 50 })
      .toBe(401);
  });

  it('are created offline by the CLI, shown once, and accepted by a running gateway', async () => {
    const dataDir = freshDataDir();
    const kw = await start(dataDir);
    const config = join(dataDir, 'none.json');
    await import('node:fs').then((fs) => fs.writeFileSync(config, '{}'));
    const created = await runCli([
      'tokens',
      'create',
      '--name',
      'cli',
      '--scopes',
      'chat',
      '--rpm',
      '5',
      '--expires-in',
      '30d',
      '--config',
      config,
      '--data-dir',
      dataDir,
      '--json',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const { token, id, limits } = JSON.parse(created.stdout);
    expect(limits).toEqual({ rpm: 5 });
    expect((await chat(kw, token)).status).toBe(200);
    // A name minted by a delegated admin must not write escape sequences to the operator's terminal:
    // control characters are refused, and what a name may hold is escaped where it could mislead.
    expect((await mint(kw, { name: 'x\u001b[2K\u001b[1A\u001b]0;owned\u0007' })).status).toBe(400);
    expect((await mint(kw, { name: 'x\u202eowned' })).status).toBe(201);
    const listed = await runCli(['tokens', 'list', '--config', config, '--data-dir', dataDir]);
    expect(listed.stdout).toContain(id);
    expect(listed.stdout).not.toContain(token.slice(16));
    expect(listed.stdout).not.toContain('\u202e');
    expect(listed.stdout).toContain('x\\u202eowned');
    const bad = await runCli([
      'tokens',
      'create',
      '--name',
      'x',
      '--scopes',
      'root',
      '--config',
      config,
      '--data-dir',
      dataDir,
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Invalid value for --scopes: expected one of models:read, chat');
  });
});

describe.skipIf(!hasPostgres())('gateway tokens on two instances sharing Postgres (needs postgres)', () => {
  const postgres = usePostgres();

  it('revoked at once on both, or with the token above them, answer 200 with the token on both', async () => {
    // Postgres, not SQLite: its queries wait on the network, so the two instances' requests interleave
    // in one process, as they do across processes on any store.
    const storage = { postgres: { url: await postgres.database() } };
    const dataDir = freshDataDir();
    const first = await start(dataDir, storage);
    const second = await start(dataDir, storage);
    for (let round = 0; round < 10; round++) {
      const parent = (await mint(first, { name: `parent${round}`, scopes: ['chat', 'admin'] })).json;
      const child = (await mint(first, { name: `child${round}`, scopes: ['chat'] }, parent.token)).json;
      // The child ends with its parent: a request that read it live may find it revoked by another.
      const answers = await Promise.all([
        admin(first, 'DELETE', `/admin/tokens/${parent.id}`),
        admin(second, 'DELETE', `/admin/tokens/${child.id}`),
        admin(first, 'DELETE', `/admin/tokens/${child.id}`),
        admin(second, 'DELETE', `/admin/tokens/${parent.id}`),
      ]);
      expect(
        answers.map((answer) => [answer.status, answer.json.id, answer.json.revokedAt !== null]),
      ).toEqual([
        [200, parent.id, true],
        [200, child.id, true],
        [200, child.id, true],
        [200, parent.id, true],
      ]);
    }
    expect((await admin(second, 'DELETE', '/admin/tokens/abcdefghijkl')).status).toBe(404);
  });
});
