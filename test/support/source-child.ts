/**
 * Runs a key source in a separate Node process, for tests whose subject depends on process-wide
 * state fixed at start-up: NODE_EXTRA_CA_CERTS is read once when Node boots, and the keyring addon
 * keeps its first D-Bus connection (or connection failure) for the life of the process.
 *
 * The child cannot load TypeScript, and `dist/` may be stale or unbuildable mid-change, so the
 * source module is bundled from `src/` with esbuild (vite's own dependency) into
 * `node_modules/.cache`, where its bare imports still resolve to the project's packages.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const ROOT = join(import.meta.dirname, '../..');
const CACHE = join(ROOT, 'node_modules/.cache/keyward-tests', String(process.pid));

export interface ChildKey {
  id: string;
  value: string;
  createdAt?: number;
  expiresAt?: number;
}

export type ChildLoad =
  | { ok: true; keys: ChildKey[] }
  | { ok: false; name: string; message: string; withdrawn: boolean };

export interface ChildRun {
  /** One entry per load, in order. */
  loads: ChildLoad[];
  describe: string;
  refreshMs: number | undefined;
  stderr: string;
}

const RUNNER = `
const input = JSON.parse(await new Promise((resolve) => {
  let text = '';
  process.stdin.on('data', (chunk) => { text += chunk; });
  process.stdin.on('end', () => resolve(text));
}));
const module = await import(input.bundle);
const source = module[input.factory](input.config, { provider: 'test', env: process.env });
const loads = [];
for (let i = 0; i < input.loads; i++) {
  try {
    const keys = await source.load();
    loads.push({ ok: true, keys: keys.map((k) => ({ id: k.id, value: k.secret.reveal(), createdAt: k.createdAt, expiresAt: k.expiresAt })) });
  } catch (error) {
    loads.push({ ok: false, name: error.name, message: error.message, withdrawn: error.withdrawn === true });
  }
}
process.stdout.write(JSON.stringify({ loads, describe: source.describe, refreshMs: source.refreshMs }));
`;

const bundles = new Map<string, Promise<string>>();

/** Bundles `src/keys/sources/<name>.ts` once per test process and returns the bundle's path. */
function bundle(name: string): Promise<string> {
  let pending = bundles.get(name);
  if (!pending) {
    const outfile = join(CACHE, `${name}.mjs`);
    mkdirSync(CACHE, { recursive: true });
    pending = build({
      entryPoints: [join(ROOT, 'src/keys/sources', `${name}.ts`)],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      logLevel: 'silent',
    }).then(() => outfile);
    bundles.set(name, pending);
  }
  return pending;
}

/** Creates the source in a fresh process with exactly `env` (plus PATH) and calls `load()` `loads` times. */
export async function runSourceInChild(options: {
  module: string;
  factory: string;
  config: unknown;
  env: NodeJS.ProcessEnv;
  loads?: number;
}): Promise<ChildRun> {
  const file = await bundle(options.module);
  const child = spawn(process.execPath, ['--input-type=module', '-e', RUNNER], {
    env: { PATH: process.env.PATH, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  child.stdin.end(
    JSON.stringify({
      bundle: pathToFileURL(file).href,
      factory: options.factory,
      config: options.config,
      loads: options.loads ?? 1,
    }),
  );
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`source child exited with ${code}: ${stderr}`);
  return { ...(JSON.parse(stdout) as Omit<ChildRun, 'stderr'>), stderr };
}

/** Removes this process's bundles. */
export function cleanSourceBundles(): void {
  rmSync(CACHE, { recursive: true, force: true });
}
