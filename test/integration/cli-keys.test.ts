import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { freshDataDir, runCli, startGatewayProcess } from '../support/process.js';
import { CLIENT_KEY } from '../support/setup.js';

const KEY_A = 'sk-cli-key-aaaaaaaaaaaaaaaaaaaaaaaa1111';
const KEY_B = 'sk-cli-key-bbbbbbbbbbbbbbbbbbbbbbbb2222';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function configIn(dataDir: string, providers: unknown[]): string {
  const file = join(dataDir, 'keyward.json');
  writeFileSync(
    file,
    JSON.stringify({
      server: { port: 0 },
      admin: { port: 0 },
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers,
      models: providers.length > 0 ? [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }] : [],
    }),
  );
  return file;
}

async function chat(url: string) {
  const res = await request(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.body.dump();
  return res.statusCode;
}

describe('keyward init, keys and master', () => {
  it('init creates a 0600 master key and an admin key shown once that opens the admin API', async () => {
    const dataDir = freshDataDir();
    const file = configIn(dataDir, []);
    const init = await runCli(['init', '--config', file, '--data-dir', dataDir, '--json']);
    expect(init.code, init.stderr).toBe(0);
    const { adminKey } = JSON.parse(init.stdout) as { adminKey: string };
    expect(adminKey).toMatch(/^kwa_[A-Za-z0-9_-]{43}$/);
    expect(statSync(join(dataDir, 'master.key')).mode & 0o777).toBe(0o600);

    const gw = await startGatewayProcess(file, { KEYWARD_DATA_DIR: dataDir, KEYWARD_API_KEY: CLIENT_KEY });
    cleanups.push(async () => gw.child.kill('SIGKILL'));
    const admitted = await request(`${gw.adminUrl}/admin/keys`, {
      headers: { authorization: `Bearer ${adminKey}` },
    });
    expect(admitted.statusCode).toBe(200);
    await admitted.body.dump();
    const refused = await request(`${gw.adminUrl}/admin/keys`, {
      headers: { authorization: `Bearer ${adminKey}x` },
    });
    expect(refused.statusCode).toBe(401);
    await refused.body.dump();
    expect(gw.lines.join('\n')).not.toContain(adminKey);
  });

  it('import-env moves plain keys into the store and says what to delete; the gateway then runs without them', async () => {
    const fake = await startFakeOpenAI({ keys: [KEY_A, KEY_B] });
    cleanups.push(() => fake.close());
    const dataDir = freshDataDir();
    const provider = { id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1` };
    const before = configIn(dataDir, [{ ...provider, keys: { env: 'FAKE_KEYS' } }]);
    const args = ['--config', before, '--data-dir', dataDir];
    expect((await runCli(['init', ...args])).code).toBe(0);

    const imported = await runCli(['keys', 'import-env', ...args], {
      env: { FAKE_KEYS: `${KEY_A},${KEY_B}` },
    });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toContain('fake: imported 2 key(s) from FAKE_KEYS');
    expect(imported.stdout).toContain('delete FAKE_KEYS from the environment');
    expect(imported.stdout).not.toContain(KEY_A);
    const again = await runCli(['keys', 'import-env', ...args, '--json'], { env: { FAKE_KEYS: KEY_A } });
    expect(JSON.parse(again.stdout).imported[0]).toMatchObject({ ids: [], skipped: 1 });

    const listed = await runCli(['keys', 'list', ...args]);
    expect(listed.stdout).toMatch(/pk_\w+\s+fake\s+sk-…1111 \[#[0-9a-f]{8}\]\s+active/);
    expect(listed.stdout).not.toContain(KEY_A);

    const after = configIn(dataDir, [{ ...provider, keys: { store: true } }]);
    const gw = await startGatewayProcess(after, { KEYWARD_DATA_DIR: dataDir, KEYWARD_API_KEY: CLIENT_KEY });
    cleanups.push(async () => gw.child.kill('SIGKILL'));
    expect(await chat(gw.dataUrl)).toBe(200);
    expect(await chat(gw.dataUrl)).toBe(200);
    const seen = fake.requests.map((r) => String(r.headers.authorization).slice(7));
    expect(new Set(seen)).toEqual(new Set([KEY_A, KEY_B]));
  });

  it('SIGHUP reloads changed provider keys without a restart', async () => {
    const fake = await startFakeOpenAI({ keys: [KEY_A, KEY_B] });
    cleanups.push(() => fake.close());
    const dataDir = freshDataDir();
    const provider = { id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1` };
    const file = configIn(dataDir, [{ ...provider, keys: { env: 'FIRST' } }]);
    const gw = await startGatewayProcess(file, {
      KEYWARD_DATA_DIR: dataDir,
      KEYWARD_API_KEY: CLIENT_KEY,
      FIRST: KEY_A,
      SECOND: KEY_B,
    });
    cleanups.push(async () => gw.child.kill('SIGKILL'));
    expect(await chat(gw.dataUrl)).toBe(200);
    expect(fake.requests.at(-1)?.headers.authorization).toBe(`Bearer ${KEY_A}`);

    configIn(dataDir, [{ ...provider, keys: { env: 'SECOND' } }]);
    gw.child.kill('SIGHUP');
    await expect.poll(() => gw.lines.some((line) => line.includes('configuration reloaded'))).toBe(true);
    expect(await chat(gw.dataUrl)).toBe(200);
    expect(fake.requests.at(-1)?.headers.authorization).toBe(`Bearer ${KEY_B}`);
    expect(gw.child.exitCode).toBeNull();
  });

  it('keeps the keys and their source when a changed source cannot load, and says so', async () => {
    const fake = await startFakeOpenAI({ keys: [KEY_A] });
    cleanups.push(() => fake.close());
    const dataDir = freshDataDir();
    const provider = { id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1` };
    const file = configIn(dataDir, [{ ...provider, keys: { env: 'FIRST' } }]);
    const gw = await startGatewayProcess(file, {
      KEYWARD_DATA_DIR: dataDir,
      KEYWARD_API_KEY: CLIENT_KEY,
      FIRST: KEY_A,
    });
    cleanups.push(async () => gw.child.kill('SIGKILL'));
    expect(await chat(gw.dataUrl)).toBe(200);

    // A variable's name mistyped: nothing to load from it.
    configIn(dataDir, [{ ...provider, keys: { env: 'FRIST' } }]);
    gw.child.kill('SIGHUP');
    const reloaded = () => gw.lines.find((line) => line.includes('configuration reloaded'));
    await expect.poll(reloaded).toBeTruthy();
    expect(JSON.parse(reloaded()!)).toMatchObject({ applied: [], notApplied: ['providers[fake].keys'] });
    expect(gw.lines.some((line) => line.includes("the provider's new keys source could not load"))).toBe(
      true,
    );
    expect(await chat(gw.dataUrl)).toBe(200);
    expect(fake.requests.at(-1)?.headers.authorization).toBe(`Bearer ${KEY_A}`);
  });

  it('keys add and keys rotate refuse a key the provider already has stored, as import-env skips it', async () => {
    const dataDir = freshDataDir();
    const file = configIn(dataDir, [
      { id: 'fake', type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', keys: { store: true } },
    ]);
    const env = { KEYWARD_DATA_DIR: dataDir };
    expect((await runCli(['init', '--config', file], { env })).code).toBe(0);
    const add = (action: string) =>
      runCli(['keys', action, '--provider', 'fake', '--config', file, '--json'], { env, stdin: KEY_A });
    const first = await add('add');
    expect(first.code, first.stderr).toBe(0);
    const { id } = JSON.parse(first.stdout) as { id: string };

    for (const action of ['add', 'rotate']) {
      const again = await add(action);
      expect(again.code).toBe(1);
      expect(JSON.parse(again.stderr).error.message).toBe(
        `fake already has this key stored as ${id} (active); nothing was added`,
      );
      expect(again.stderr).not.toContain(KEY_A);
    }
    expect((await runCli(['keys', 'disable', id, '--config', file], { env })).code).toBe(0);
    const disabled = await add('add');
    expect(JSON.parse(disabled.stderr).error.message).toContain(
      `(disabled); nothing was added; keyward keys enable ${id} to put it back in use`,
    );
    const list = await runCli(['keys', 'list', '--config', file, '--json'], { env });
    expect((JSON.parse(list.stdout) as { keys: unknown[] }).keys).toHaveLength(1);
  });

  it('names the configured providers for an unknown one, never the value given: it may be a key', async () => {
    const dataDir = freshDataDir();
    const file = configIn(dataDir, [
      { id: 'fake', type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', keys: { store: true } },
      { id: 'other', type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', keys: { store: true } },
    ]);
    const args = ['--config', file, '--data-dir', dataDir];
    expect((await runCli(['init', ...args])).code).toBe(0);
    // A key pasted into --provider, the key itself on standard input as asked.
    for (const action of ['add', 'rotate', 'encrypt', 'list']) {
      const run = await runCli(['keys', action, '--provider', KEY_B, ...args], { stdin: KEY_A });
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toContain(`unknown provider: the configured providers are fake, other (${file})`);
      expect(run.stderr).not.toContain(KEY_B);
      expect(run.stderr).not.toContain(KEY_B.slice(0, 12));
      expect(run.stdout).not.toContain(KEY_B);
    }
  });

  it('refuses what it cannot do safely, with a clear message and no secret', async () => {
    const dataDir = freshDataDir();
    const file = configIn(dataDir, [
      { id: 'fake', type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', keys: { env: 'FAKE_KEYS' } },
    ]);
    const args = ['--config', file, '--data-dir', dataDir];
    const noMaster = await runCli(['keys', 'list', ...args]);
    expect(noMaster.code).toBe(1);
    expect(noMaster.stderr).toContain("run 'keyward init' first");

    expect((await runCli(['init', ...args])).code).toBe(0);
    const notStore = await runCli(['keys', 'add', '--provider', 'fake', ...args], { stdin: KEY_A });
    expect(notStore.code).toBe(2);
    expect(notStore.stderr).toContain('does not take its keys from the store');
    const empty = await runCli(['keys', 'encrypt', '--provider', 'fake', ...args]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('pipe the key on standard input');

    chmodSync(join(dataDir, 'master.key'), 0o644);
    const start = await runCli(['start', ...args], { env: { FAKE_KEYS: KEY_A } });
    expect(start.code).toBe(2);
    expect(start.stderr).toContain(`chmod 600 ${join(dataDir, 'master.key')}`);

    const weak = await runCli(['start', ...args], {
      env: { FAKE_KEYS: KEY_A, KEYWARD_MASTER_KEY: Buffer.alloc(32).toString('base64') },
    });
    expect(weak.code).toBe(2);
    expect(weak.stderr).toContain('not random');
    const elsewhere = join(dataDir, 'keyward-mounted.json');
    writeFileSync(elsewhere, JSON.stringify({ masterKey: { file: join(dataDir, 'missing', 'master.key') } }));
    const mountFailed = await runCli(['start', '--config', elsewhere, '--data-dir', dataDir]);
    expect(mountFailed.code).toBe(2);
    expect(mountFailed.stderr).toContain('cannot read master key file');
    const short = await runCli(['start', ...args], {
      env: { FAKE_KEYS: KEY_A, KEYWARD_MASTER_PASSPHRASE: 'too short' },
    });
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('at least 16 characters');
  });
});
