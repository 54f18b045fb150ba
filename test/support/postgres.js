import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

// Plain JavaScript with JSDoc types, so that the benchmark (plain Node) starts its Postgres with it too.

/**
 * @typedef {object} PostgresServer
 * @property {string} url `postgres://postgres@127.0.0.1:PORT/postgres`: trust auth on loopback, no password.
 * @property {number} port
 * @property {number} pid The postmaster's pid (its backends are its children); the first one's after `up`.
 * @property {() => void} down Stops the server (fast mode) and keeps its data, as an outage or a restart would.
 * @property {() => void} up Starts it again after `down`, on the same port.
 * @property {() => Promise<void>} stop Stops the server (immediate mode) and removes its data folder.
 */

/** Why Postgres tests skip, naming the Debian package that brings `initdb` and `pg_ctl`. */
export const POSTGRES_MISSING =
  'Postgres tests skipped: initdb/pg_ctl not found (install the Debian package `postgresql`)';

/** @type {string | null | undefined} */
let bindir;

/** The folder holding `initdb` and `pg_ctl`, or null when Postgres is not installed. */
/** @returns {string | null} */
export function postgresBinDir() {
  if (bindir !== undefined) return bindir;
  /** @type {string[]} */
  const candidates = [];
  const config = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (config.status === 0) candidates.push(config.stdout.trim());
  // Debian installs servers per major version; pg_config may come from another package or none.
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian).sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((version) => join(debian, version, 'bin')));
  }
  bindir =
    candidates.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) ?? null;
  return bindir;
}

/** @returns {boolean} */
export function hasPostgres() {
  return postgresBinDir() !== null;
}

/**
 * A private, throwaway Postgres cluster in a temp folder on a free loopback port, fsync off.
 * initdb refuses to run as root (CI runs as root), so then the cluster belongs to the `postgres`
 * system user and initdb/pg_ctl run through `runuser`.
 * @returns {Promise<PostgresServer>}
 */
export async function startPostgres() {
  const bin = postgresBinDir();
  if (!bin) throw new Error(POSTGRES_MISSING);
  const port = await freePort();
  const root = mkdtempSync(join(tmpdir(), 'keyward-pg-'));
  const data = join(root, 'data');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const owner = systemUser('postgres');
    chownSync(root, owner.uid, owner.gid);
    chmodSync(root, 0o700);
  }
  /** @type {(tool: string, args: string[]) => void} */
  const run = (tool, args) => {
    const command = asRoot ? 'runuser' : join(bin, tool);
    const argv = asRoot ? ['-u', 'postgres', '--', join(bin, tool), ...args] : args;
    const result = spawnSync(command, argv, { encoding: 'utf8', cwd: root });
    if (result.status !== 0) {
      throw new Error(`${tool} failed (${result.status}): ${result.stderr || result.stdout}`);
    }
  };
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const options = `-c listen_addresses=127.0.0.1 -c port=${port} -c fsync=off -c unix_socket_directories='${root}'`;
  const up = () =>
    run('pg_ctl', ['-D', data, '-o', options, '-l', join(root, 'log'), '-w', '-t', '30', 'start']);
  const down = () => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
  up();
  // The cluster is thrown away: stopped without the shutdown checkpoint a fast stop writes, which
  // on a busy machine took longer than a test hook's 30 s after the store suites' writes.
  const stop = async () => {
    if (!existsSync(data)) return;
    try {
      if (existsSync(join(data, 'postmaster.pid')))
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } finally {
      process.off('exit', stopSync);
      rmSync(root, { recursive: true, force: true });
    }
  };
  // A test run that dies must not leave clusters behind.
  const stopSync = () => {
    try {
      run('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
    } catch {}
  };
  process.once('exit', stopSync);
  const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, port, pid, down, up, stop };
}

/** @param {string} name @returns {{ uid: number; gid: number }} */
function systemUser(name) {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error(`running as root needs the system user "${name}" (from the postgresql package)`);
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

let databases = 0;

/**
 * A fresh empty database on `server` (one cluster serves a whole test file); returns its url.
 * @param {PostgresServer} server
 * @returns {Promise<string>}
 */
export async function createDatabase(server) {
  const { default: pg } = await import('pg');
  databases += 1;
  const name = `test_${process.pid}_${databases}`;
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return server.url.replace(/\/postgres$/, `/${name}`);
}
