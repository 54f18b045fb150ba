import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyChain } from '../../src/audit/index.js';
import { type AuditFixture, openFixture } from './support/fixture.js';

const require = createRequire(import.meta.url);

/**
 * Bundles the writer from source into the test's temporary directory. Packages stay external but
 * are resolved to absolute paths here, since the bundle lives outside the project's node_modules.
 */
async function bundleWriter(dir: string): Promise<string> {
  const outfile = join(dir, 'writer.mjs');
  await build({
    entryPoints: [join(import.meta.dirname, 'support/writer.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'silent',
    plugins: [
      {
        name: 'absolute-packages',
        setup(builder) {
          builder.onResolve({ filter: /^[^./]/ }, (args) =>
            args.path.startsWith('node:')
              ? { external: true }
              : { path: require.resolve(args.path), external: true },
          );
        },
      },
    ],
  });
  return outfile;
}

interface Writer {
  ready: Promise<void>;
  start(): void;
  done: Promise<{ errors: string[] }>;
}

/** Spawns a writer; it opens its store, reports ready, and records once `start()` is called. */
function spawnWriter(file: string, env: Record<string, string>): Writer {
  const child = spawn(process.execPath, [file], { env: { PATH: process.env.PATH, ...env } });
  let stdout = '';
  let stderr = '';
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
    if (stderr.includes('ready\n')) markReady();
  });
  const done = once(child, 'exit').then(([code]) => {
    if (code !== 0) throw new Error(`writer exited with ${code}: ${stderr}`);
    return JSON.parse(stdout) as { errors: string[] };
  });
  return { ready: Promise.race([ready, done.then(() => {})]), start: () => child.stdin.end(), done };
}

describe('audit chain shared by several processes', () => {
  let fx: AuditFixture;
  beforeEach(() => {
    fx = openFixture();
  });
  afterEach(async () => {
    await fx.close();
  });

  it('makes one valid chain from three gateway processes writing at once', async () => {
    const file = await bundleWriter(fx.dir);
    const env = { KW_DB: fx.path, KW_AUDIT_KEY: fx.key.toString('hex'), KW_COUNT: '400' };
    const writers = ['gw-1', 'gw-2', 'gw-3'].map((actor) => spawnWriter(file, { ...env, KW_ACTOR: actor }));
    await Promise.all(writers.map((writer) => writer.ready));
    for (const writer of writers) writer.start();
    const runs = await Promise.all(writers.map((writer) => writer.done));
    expect(runs.flatMap((run) => run.errors)).toEqual([]);
    const records = await fx.store.audit.list({ limit: 10_000 });
    expect(records).toHaveLength(1200);
    for (const actor of ['gw-1', 'gw-2', 'gw-3']) {
      expect(records.filter((r) => r.actor === actor).map((r) => r.data.i)).toEqual([...Array(400).keys()]);
    }
    // The writers really interleaved: the chain is not three runs one after another.
    const switches = records.filter((r, i) => i > 0 && r.actor !== records[i - 1]!.actor).length;
    expect(switches).toBeGreaterThan(2);
    expect(await verifyChain(fx.store.audit, fx.key)).toEqual({ ok: true, checked: 1200, lastSeq: 1200 });
  });
});
