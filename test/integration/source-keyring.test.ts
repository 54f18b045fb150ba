/**
 * The keyring key source against a real gnome-keyring daemon on a private D-Bus session bus.
 *
 * The bus is started from a minimal config (no service activation, so nothing is launched with the
 * real HOME), and gnome-keyring gets a temp HOME/XDG dirs and unlocks a fresh "login" collection
 * from the password on its stdin. The keyring addon reads DBUS_SESSION_BUS_ADDRESS once, at its
 * first use, and keeps it for the life of the process: setting it in process.env before that is
 * enough for this file (each test file has its own worker process), while the tests that need a
 * different bus run the source in a child process (test/support/source-child.ts).
 *
 * Needs `apt-get install -y gnome-keyring dbus`; skipped when they are not installed.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AsyncEntry } from '@napi-rs/keyring';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyringSourceConfig } from '../../src/config/key-sources.js';
import { KeySourceError } from '../../src/keys/sources/errors.js';
import { createKeyringSource } from '../../src/keys/sources/keyring.js';
import { cleanSourceBundles, runSourceInChild } from '../support/source-child.js';

const INSTALL = 'apt-get install -y gnome-keyring dbus';
const installed = ['gnome-keyring-daemon', 'dbus-daemon', 'dbus-send'].every(
  (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0,
);
if (!installed) console.warn(`skipping keyring source tests: gnome-keyring/dbus missing; run \`${INSTALL}\``);

const KEY_A = 'sk-keyring-test-key-0a1b2c3d4e5f6071';
const KEY_B = 'sk-keyring-test-key-8192a3b4c5d6e7f8';
const KEY_C = 'sk-keyring-test-key-c0ffee00deadbeef';
const SERVICE = 'keyward-test';

function busConfig(socket: string): string {
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`;
}

/** Starts a private session bus; returns its address and the daemon's pid. */
function startBus(dir: string, name: string): { address: string; pid: number } {
  const file = join(dir, `${name}.conf`);
  writeFileSync(file, busConfig(join(dir, `${name}.sock`)));
  const out = execFileSync(
    'dbus-daemon',
    [`--config-file=${file}`, '--fork', '--print-address=1', '--print-pid=1'],
    {
      encoding: 'utf8',
    },
  );
  const [address = '', pid = ''] = out.trim().split('\n');
  return { address: address.trim(), pid: Number(pid) };
}

function hasOwner(address: string, name: string): boolean {
  const res = spawnSync(
    'dbus-send',
    [
      `--bus=${address}`,
      '--print-reply',
      '--dest=org.freedesktop.DBus',
      '/org/freedesktop/DBus',
      'org.freedesktop.DBus.NameHasOwner',
      `string:${name}`,
    ],
    { encoding: 'utf8' },
  );
  return res.status === 0 && /boolean true/.test(res.stdout);
}

describe.skipIf(!installed)(`keyring key source (needs \`${INSTALL}\`)`, () => {
  let dir: string;
  let bus: { address: string; pid: number };
  let emptyBus: { address: string; pid: number };
  let keyring: ChildProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyward-keyring-'));
    const runtime = join(dir, 'run');
    mkdirSync(runtime, { mode: 0o700 });
    bus = startBus(dir, 'bus');
    emptyBus = startBus(dir, 'empty');
    keyring = spawn('gnome-keyring-daemon', ['--foreground', '--unlock', '--components=secrets'], {
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        XDG_DATA_HOME: join(dir, 'data'),
        XDG_RUNTIME_DIR: runtime,
        DBUS_SESSION_BUS_ADDRESS: bus.address,
      },
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    keyring.stdin?.end('keyring-test-password');
    for (let i = 0; !hasOwner(bus.address, 'org.freedesktop.secrets'); i++) {
      if (i > 100) throw new Error('gnome-keyring-daemon did not register org.freedesktop.secrets');
      await sleep(50);
    }
    // Before the addon's first use in this process: it keeps the address it saw first.
    process.env.DBUS_SESSION_BUS_ADDRESS = bus.address;
  });

  afterAll(() => {
    keyring?.kill('SIGTERM');
    for (const pid of [bus?.pid, emptyBus?.pid]) {
      if (pid) process.kill(pid, 'SIGTERM');
    }
    cleanSourceBundles();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Seeds the Secret Service only, so that a value read back cannot have come from elsewhere. */
  async function store(account: string, value: string): Promise<void> {
    await new AsyncEntry(SERVICE, account, { linux: { store: 'secret-service' } }).setPassword(value);
  }

  function source(account: string, overrides: Partial<KeyringSourceConfig> = {}) {
    return createKeyringSource(
      { service: SERVICE, account, refreshSeconds: 300, timeoutSeconds: 15, ...overrides },
      { provider: 'openai', env: process.env },
    );
  }

  async function failure(promise: Promise<unknown>): Promise<string> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(KeySourceError);
    const message = (error as Error).message;
    for (const value of [KEY_A, KEY_B, KEY_C]) expect(message).not.toContain(value);
    return message;
  }

  it('loads the entry from the Secret Service', async () => {
    await store('openai', KEY_A);
    const src = source('openai');
    expect(src.kind).toBe('keyring');
    expect(src.describe).toBe(`keyring ${SERVICE}/openai`);
    expect(src.refreshMs).toBe(300_000);
    const keys = await src.load();
    expect(keys.map((k) => ({ id: k.id, value: k.secret.reveal() }))).toEqual([
      { id: `keyring:${SERVICE}/openai#1`, value: KEY_A },
    ]);
  });

  it('splits a comma-separated entry and honours refreshSeconds', async () => {
    await store('multi', `${KEY_A}, ${KEY_B} ,${KEY_A}`);
    const src = source('multi', { refreshSeconds: 60 });
    expect(src.refreshMs).toBe(60_000);
    const keys = await src.load();
    expect(keys.map((k) => ({ id: k.id, value: k.secret.reveal() }))).toEqual([
      { id: `keyring:${SERVICE}/multi#1`, value: KEY_A },
      { id: `keyring:${SERVICE}/multi#2`, value: KEY_B },
    ]);
  });

  it('sees a changed value on the next load', async () => {
    await store('rotating', KEY_A);
    const src = source('rotating');
    expect((await src.load())[0]?.secret.reveal()).toBe(KEY_A);
    await store('rotating', KEY_C);
    const keys = await src.load();
    expect(keys.map((k) => [k.id, k.secret.reveal()])).toEqual([[`keyring:${SERVICE}/rotating#1`, KEY_C]]);
  });

  it('reports a missing entry', async () => {
    const message = await failure(source('absent').load());
    expect(message).toMatch(/keyring entry keyward-test\/absent .* does not exist/);
  });

  it('reports an entry too short to be a key', async () => {
    await store('short', 'abc');
    expect(await failure(source('short').load())).toMatch(/shorter than/);
  });

  it('reports a bus without a Secret Service, and a missing bus, as no Secret Service', async () => {
    await store('openai', KEY_A);
    const config = { service: SERVICE, account: 'openai' };
    const run = (env: NodeJS.ProcessEnv) =>
      runSourceInChild({
        module: 'keyring',
        factory: 'createKeyringSource',
        config,
        env: { HOME: dir, ...env },
      });
    for (const env of [
      { DBUS_SESSION_BUS_ADDRESS: emptyBus.address },
      { DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(dir, 'no-such.sock')}` },
      {},
    ]) {
      const [load] = (await run(env)).loads;
      expect(load).toMatchObject({ ok: false, name: 'KeySourceError' });
      const message = load && !load.ok ? load.message : '';
      expect(message).toMatch(/no Secret Service is reachable/);
      expect(message).not.toContain(KEY_A);
    }
    const ok = await run({ DBUS_SESSION_BUS_ADDRESS: bus.address });
    expect(ok.loads).toEqual([{ ok: true, keys: [{ id: `keyring:${SERVICE}/openai#1`, value: KEY_A }] }]);
  });
});
