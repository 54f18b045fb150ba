// npm run bench: the fake provider, a bare undici pass-through proxy (the Node floor) and Keyward,
// each in its own process, loaded with autocannon at concurrency 1 and 50. See bench/README.md.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { request } from 'undici';
import { freePort } from '../test/support/free-port.js';
import { createDatabase, hasPostgres, startPostgres } from '../test/support/postgres.js';
import {
  BENCH_ORIGIN,
  JWT_AUDIENCE,
  JWT_ISSUER,
  sessionCookie,
  startIdentityProvider,
} from './browser-credentials.mjs';
import { own, startAnnounced, stopAll } from './children.mjs';
import { clientSize } from './client-size.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.env.BENCH_QUICK === '1' || process.argv.includes('--quick');
/**
 * The scale-out group: Keyward as one process on SQLite, as `--workers 2`, and as one instance on
 * Postgres with Redis (limits, budgets and key health shared, as behind a load balancer), each on a
 * store of its own, in turns with the bare proxy; and one on SQLite with Redis, which tells the
 * shared limits' cost apart from Postgres's. CPU counts the primary and its workers, and the Redis
 * and Postgres servers' processes with the instances that use them. Without the Debian packages
 * postgresql and redis-server the Postgres row is left out, saying so.
 */
async function scaleOutTargets(bare, fake, fakeAnthropic, identity) {
  const one = await startKeyward(fake.url, fakeAnthropic.url, identity.jwksUrl);
  const two = await startKeyward(fake.url, fakeAnthropic.url, identity.jwksUrl, ['--workers', '2']);
  const group = [
    { name: 'bare undici proxy', ...bare, key: providerKey, model: 'gpt-4o-mini' },
    { name: 'keyward, one process', ...one, key: one.token, model: 'bench-model' },
    { name: 'keyward --workers 2', ...two, key: two.token, model: 'bench-model' },
  ];
  if (!hasPostgres() || spawnSync('redis-server', ['--version']).status !== 0) {
    process.stderr.write('no Postgres row: install the Debian packages postgresql and redis-server\n');
    return group;
  }
  const postgres = await startPostgres();
  process.on('exit', () => spawnSync('kill', ['-9', String(postgres.pid)]));
  const redis = await startRedis();
  // The same instance on SQLite with Redis: what the shared limits cost, apart from Postgres.
  const limited = await startKeyward(fake.url, fakeAnthropic.url, identity.jwksUrl, [], {
    redis: { url: redis.url },
  });
  group.push({
    name: 'keyward on sqlite + redis',
    ...limited,
    key: limited.token,
    model: 'bench-model',
    alsoPids: [redis.pid],
  });
  const shared = await startKeyward(fake.url, fakeAnthropic.url, identity.jwksUrl, [], {
    postgres: { url: await createDatabase(postgres) },
    redis: { url: redis.url },
  });
  group.push({
    name: 'keyward on postgres + redis',
    ...shared,
    key: shared.token,
    model: 'bench-model',
    alsoPids: [postgres.pid, redis.pid],
  });
  return group;
}

/** A private redis-server on a free port, nothing saved. */
async function startRedis() {
  const port = await freePort();
  const child = own(
    spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }),
  );
  for (let i = 0; i < 100; i++) {
    if (
      spawnSync('redis-cli', ['-p', String(port), 'ping'])
        .stdout?.toString()
        .trim() === 'PONG'
    )
      return { url: `redis://127.0.0.1:${port}`, pid: child.pid };
    await sleep(50);
  }
  throw new Error('redis-server did not start');
}

/** `--only scale` (or `workers`): the scale-out group alone. Nothing written to bench/results. */
async function scaleOnly(bare, fake, fakeAnthropic, identity) {
  const group = await scaleOutTargets(bare, fake, fakeAnthropic, identity);
  for (const target of group) await loadOnce(target, 50, quick ? 1 : 2);
  process.stderr.write(`c=50: ${group.map((t) => t.name).join(', ')}, ${duration}s each, in turns…\n`);
  const rows = await loadInTurns(group, 50, duration);
  process.stdout.write(
    `\n| target | req/s | p50 ms | CPU µs/req | RSS MB (primary) | failures |\n${rows
      .map(
        (r) =>
          `| ${r.target} | ${fmt(r.rps, 0)} | ${fmt(r.p50, 3)} | ${fmt(r.cpuUsPerReq, 0)} | ${fmt(r.rssMb, 0)} | ${r.failures} |`,
      )
      .join('\n')}\n${scaleRatios(rows)}\n`,
  );
}

function scaleRatios(rows) {
  const [bare, one, two, limited, shared] = rows;
  return (
    `÷ bare at c=50: one process ${fmt(one.rps / bare.rps)}×, two workers ${fmt(two.rps / bare.rps)}×` +
    (shared ? `, on postgres + redis ${fmt(shared.rps / bare.rps)}×` : '') +
    `; two workers ÷ one process ${fmt(two.rps / one.rps)}×` +
    (shared
      ? `; ÷ one process on sqlite: sqlite + redis ${fmt(limited.rps / one.rps)}×, postgres + redis ${fmt(shared.rps / one.rps)}×`
      : '')
  );
}

/** `--only responses`: the /v1/responses group and its bare proxies only (a quicker check). */
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const duration = Number(process.env.BENCH_DURATION ?? (quick ? 3 : 10));
const ttfbSamples = quick ? 50 : 200;
const SLICES = quick ? 1 : 5;
const providerKey = `sk-bench-${randomBytes(16).toString('hex')}`;
const CLK_TCK = 100;

/**
 * Keyward with every feature the current build has: a gateway token (verified per request),
 * per-token and per-user rate limits, a budget, usage accounting, the audit log (one record per
 * request) and the provider key encrypted in the store. New features are switched on here.
 */
function keywardConfig(port, adminPort, fakeUrl, anthropicUrl, jwksUrl, storage) {
  return {
    ...(storage && { storage }),
    server: { host: '127.0.0.1', port, cors: { origins: [BENCH_ORIGIN] } },
    // Browser credentials: cookie sessions (a session cookie outlives the run) and bearer JWTs.
    auth: {
      sessions: { sessionTtl: '1d' },
      jwt: [{ issuer: JWT_ISSUER, audience: JWT_AUDIENCE, jwksUrl, algorithms: ['ES256'] }],
    },
    admin: { host: '127.0.0.1', port: adminPort },
    logging: { level: 'info' },
    // Per-user limits too, so a request is held to two subjects' buckets, as in production.
    rateLimits: { perUser: { rpm: 1000000000, tpm: 1000000000 } },
    providers: [
      // The provider key lives encrypted in the store; in memory it is masked and revealed per request.
      { id: 'fake', type: 'openai', baseUrl: `${fakeUrl}/v1`, keys: { store: true } },
      // The translated path: OpenAI-surface requests answered by an Anthropic-format provider.
      { id: 'fake-anthropic', type: 'anthropic', baseUrl: `${anthropicUrl}/v1`, keys: { store: true } },
    ],
    models: [
      { name: 'bench-model', provider: 'fake', model: 'gpt-4o-mini' },
      { name: 'bench-claude', provider: 'fake-anthropic', model: 'claude-sonnet-4-5' },
    ],
    // A template run: params checked, the prompt rendered, then the same pipeline as a chat request.
    templates: [
      {
        name: 'bench-template',
        model: 'bench-model',
        system: 'You greet people.',
        messages: [{ role: 'user', content: 'Hello, {{name}}' }],
        params: { name: { type: 'string', maxLength: 64 } },
      },
    ],
  };
}

async function startKeyward(
  fakeUrl,
  anthropicUrl,
  jwksUrl,
  extraArgs = [],
  storage = undefined,
  build = root,
) {
  const [port, adminPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'keyward-bench-'));
  const file = join(dir, 'keyward.json');
  writeFileSync(
    file,
    JSON.stringify(keywardConfig(port, adminPort, fakeUrl, anthropicUrl, jwksUrl, storage)),
  );
  const cli = (args, input) => {
    const run = spawnSync(process.execPath, [join(build, 'dist/cli/main.js'), ...args, '--config', file], {
      env: { ...process.env, KEYWARD_DATA_DIR: dir },
      input,
      encoding: 'utf8',
    });
    if (run.status !== 0) throw new Error(`keyward ${args.join(' ')} failed: ${run.stderr}`);
    return run.stdout;
  };
  const { adminKey } = JSON.parse(cli(['init', '--json']));
  cli(['keys', 'add', '--provider', 'fake'], providerKey);
  cli(['keys', 'add', '--provider', 'fake-anthropic'], providerKey);
  // The client is a gateway token with limits and a budget high enough never to bite: every
  // request is still verified, limited, reserved, settled, priced, recorded and audited.
  const token = JSON.parse(
    cli([
      'tokens',
      'create',
      '--name',
      'bench',
      '--scopes',
      'models:read,chat,embeddings,templates',
      '--rpm',
      '1000000000',
      '--tpm',
      '1000000000',
      '--concurrency',
      '100000',
      '--budget-usd',
      '1000000',
      '--budget-period',
      'day',
      '--user',
      'bench-user',
      '--json',
    ]),
  ).token;
  // Log lines go to /dev/null: they are produced (and redacted) as in production, not stored.
  // BENCH_KEYWARD_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) profiles the gateway.
  const nodeArgs = process.env.BENCH_KEYWARD_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = own(
    spawn(
      process.execPath,
      [...nodeArgs, join(build, 'dist/cli/main.js'), 'start', '--config', file, ...extraArgs],
      {
        env: { ...process.env, KEYWARD_DATA_DIR: dir },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    ),
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    const ready = await request(`${url}/ready`).then(
      async (r) => {
        await r.body.dump();
        return r.statusCode === 200;
      },
      () => false,
    );
    if (ready)
      return { pid: child.pid, child, url, token, adminUrl: `http://127.0.0.1:${adminPort}`, adminKey };
    await sleep(50);
  }
  throw new Error('Keyward did not become ready');
}

function ownTicks(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** A target's CPU ticks: its process and its child processes (the workers of `--workers N`). */
function cpuTicks(pid) {
  let ticks = ownTicks(pid);
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const fields = readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1].split(' ');
      if (fields[1] === String(pid)) ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return ticks;
}

function rssMb(pid) {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : 0;
}

const chatBody = (model, stream = false) =>
  JSON.stringify({ model, messages: [{ role: 'user', content: 'Hello' }], ...(stream && { stream: true }) });

/** The same question in Anthropic's format, for the bare proxy in front of the fake Anthropic provider. */
const messagesBody = (model, stream = false) =>
  JSON.stringify({
    model,
    max_tokens: 256,
    messages: [{ role: 'user', content: 'Hello' }],
    ...(stream && { stream: true }),
  });

/** A bearer key, or a session cookie sent as a browser on the allowed origin sends it. */
const headersOf = (target) =>
  target.cookie
    ? { 'content-type': 'application/json', cookie: target.cookie, origin: BENCH_ORIGIN }
    : { 'content-type': 'application/json', authorization: `Bearer ${target.key}` };
/** The same question to the Responses API (stored, as by default). */
const responsesBody = (model, stream = false) =>
  JSON.stringify({ model, input: 'Hello', ...(stream && { stream: true }) });

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** One autocannon run against `target`: its requests, per-response times and the target's CPU ticks. */
async function loadOnce(target, connections, seconds) {
  const ticksNow = () =>
    [target.pid, ...(target.alsoPids ?? [])].reduce((sum, pid) => sum + cpuTicks(pid), 0);
  const before = ticksNow();
  // autocannon's own percentiles are whole milliseconds; its per-response times are not.
  const latencies = [];
  const instance = autocannon({
    url: `${target.url}${target.path ?? '/v1/chat/completions'}`,
    method: target.method ?? 'POST',
    headers: headersOf(target),
    ...(target.method !== 'GET' && { body: target.body ?? chatBody(target.model) }),
    connections,
    duration: seconds,
  });
  instance.on('response', (_client, _status, _bytes, responseTime) => latencies.push(responseTime));
  const result = await instance;
  return {
    requests: result.requests.total,
    latencies,
    ticks: ticksNow() - before,
    failures: result.non2xx + result.errors + result.timeouts,
  };
}

/**
 * Loads the targets of one comparison in turns: `SLICES` slices each, alternating, adding up to
 * `seconds` per target. This VM's speed drifts by tens of percent within a minute; measured one
 * after the other, the drift would land on whichever target ran in the slow stretch.
 */
async function loadInTurns(targets, connections, seconds) {
  const totals = targets.map(() => ({ requests: 0, latencies: [], ticks: 0, failures: 0 }));
  for (let slice = 0; slice < SLICES; slice++) {
    for (const [i, target] of targets.entries()) {
      const run = await loadOnce(target, connections, seconds / SLICES);
      const total = totals[i];
      total.requests += run.requests;
      total.ticks += run.ticks;
      total.failures += run.failures;
      for (const latency of run.latencies) total.latencies.push(latency);
    }
  }
  return targets.map((target, i) => {
    const { requests, latencies, ticks, failures } = totals[i];
    latencies.sort((a, b) => a - b);
    return {
      target: target.name,
      connections,
      rps: requests / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      cpuUsPerReq: requests ? (ticks * (1e6 / CLK_TCK)) / requests : 0,
      rssMb: rssMb(target.pid),
      requests,
      failures,
    };
  });
}

/** Time from sending a streaming request to `target` until its first body byte, in ms. */
async function firstByte(target) {
  const started = performance.now();
  const res = await request(`${target.url}/v1/chat/completions`, {
    method: 'POST',
    headers: headersOf(target),
    body: chatBody(target.model, true),
  });
  let elapsed;
  for await (const _chunk of res.body) {
    elapsed = performance.now() - started;
    break;
  }
  await res.body.dump();
  return elapsed;
}

/**
 * Median time to first byte of a streaming request for each target, the targets sampled in turns
 * (one request each, then again), so that a drift of the machine during the run reaches all alike.
 */
async function ttfbInTurns(targets) {
  const samples = targets.map(() => []);
  for (let i = 0; i < ttfbSamples; i++) {
    for (const [index, target] of targets.entries()) samples[index].push(await firstByte(target));
  }
  return Object.fromEntries(
    targets.map((target, index) => {
      const sorted = samples[index].sort((a, b) => a - b);
      return [target.name, sorted[Math.floor(sorted.length / 2)]];
    }),
  );
}

/**
 * `--only ttfb`: streaming time to first byte of the bare proxy and Keyward, in turns, after each
 * has been warmed with plain and streamed load (the full run measures it after all its groups).
 */
async function ttfbOnly(bare, keyward) {
  const pair = [
    { name: 'bare undici proxy', ...bare, key: providerKey, model: 'gpt-4o-mini' },
    { name: 'keyward', ...keyward, key: keyward.token, model: 'bench-model' },
  ];
  for (const target of pair) {
    await loadOnce(target, 50, quick ? 1 : 3);
    await loadOnce({ ...target, body: chatBody(target.model, true) }, 50, quick ? 1 : 3);
  }
  const streaming = await ttfbInTurns(pair);
  const [floor, gateway] = [streaming['bare undici proxy'], streaming.keyward];
  process.stdout.write(
    `Streaming time to first byte (median of ${ttfbSamples}): bare ${fmt(floor, 3)} ms, keyward ${fmt(gateway, 3)} ms (+${fmt(gateway - floor, 3)} ms)\n`,
  );
  keyward.child.kill('SIGTERM');
  await once(keyward.child, 'exit');
}

/**
 * What reading the provider key costs each request: `SecretString.reveal()` (unmasking it in
 * memory), timed in this process over many calls.
 */
async function revealCost() {
  const { SecretString } = await import(join(root, 'dist/keys/secret-string.js'));
  const secret = new SecretString(providerKey);
  const rounds = 200_000;
  for (let i = 0; i < 20_000; i++) secret.reveal();
  const started = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) secret.reveal();
  return Number(process.hrtime.bigint() - started) / 1000 / rounds;
}

const fmt = (n, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '—');

/**
 * The Responses API (state stored, sealed, per request): to an OpenAI-format provider (its
 * nearest format) and translated to Anthropic, streamed and not, each beside the bare proxy to
 * the same provider in the same turns.
 */
function responsesTargets(bare, messages, keyward) {
  const toResponses = { ...keyward, key: keyward.token, path: '/v1/responses' };
  return [
    { name: 'bare proxy → openai', ...bare, key: providerKey, body: chatBody('gpt-4o-mini') },
    { name: 'bare proxy → openai, stream', ...bare, key: providerKey, body: chatBody('gpt-4o-mini', true) },
    { name: 'keyward responses→openai', ...toResponses, body: responsesBody('bench-model') },
    { name: 'keyward responses→openai, stream', ...toResponses, body: responsesBody('bench-model', true) },
    { name: 'bare proxy → anthropic (responses run)', ...messages, body: messagesBody('claude-sonnet-4-5') },
    {
      name: 'bare proxy → anthropic, stream (responses run)',
      ...messages,
      body: messagesBody('claude-sonnet-4-5', true),
    },
    { name: 'keyward responses→anthropic', ...toResponses, body: responsesBody('bench-claude') },
    {
      name: 'keyward responses→anthropic, stream',
      ...toResponses,
      body: responsesBody('bench-claude', true),
    },
  ];
}

/** `--only responses`: the /v1/responses rows and their ratios, nothing written to bench/results. */
async function responsesOnly(bare, messages, keyward) {
  const group = responsesTargets(bare, messages, keyward);
  for (const target of group) await loadOnce(target, 50, quick ? 1 : 2);
  process.stderr.write(`c=50: /v1/responses and the bare proxies, ${duration}s each, in turns…\n`);
  const rows = await loadInTurns(group, 50, duration);
  const lines = rows.map(
    (r) =>
      `| ${r.target} | ${fmt(r.rps, 0)} | ${fmt(r.p50, 3)} | ${fmt(r.cpuUsPerReq, 0)} | ${fmt(r.rssMb, 0)} | ${r.failures} |`,
  );
  const ratio = (i, bareRow) => fmt(rows[i].rps / rows[bareRow].rps);
  lines.push(
    `responses÷bare at c=50: openai ${ratio(2, 0)}×, stream ${ratio(3, 1)}×; anthropic ${ratio(6, 4)}×, stream ${ratio(7, 5)}×`,
  );
  process.stdout.write(
    `\n| target | req/s | p50 ms | CPU µs/req | RSS MB | failures |\n${lines.join('\n')}\n`,
  );
  // A graceful stop, so that a profiled gateway writes its profile.
  keyward.child.kill('SIGTERM');
  await once(keyward.child, 'exit');
}

/**
 * `--only chat` (or `translated`): a headline comparison alone at c=50 in turns, nothing written to
 * bench/results. A quicker check, and a profile of one path. `chat`: the bare proxy and Keyward
 * (gateway token); `translated`: the OpenAI surface to the Anthropic-format provider, streamed and
 * not, beside the bare proxy to that provider.
 */
async function pairsOnly(pairs, keyward) {
  const group = pairs.flat();
  for (const target of group) await loadOnce(target, 50, quick ? 1 : 3);
  process.stderr.write(`c=50: ${group.map((t) => t.name).join(', ')}, ${duration}s each, in turns…\n`);
  const rows = await loadInTurns(group, 50, duration);
  const ratios = pairs.map((_, i) => {
    const [floor, gateway] = [rows[2 * i], rows[2 * i + 1]];
    return `${gateway.target} ÷ ${floor.target} at c=50: throughput ${fmt(gateway.rps / floor.rps)}×, CPU per request ${fmt(gateway.cpuUsPerReq / floor.cpuUsPerReq)}×`;
  });
  process.stdout.write(
    `\n| target | req/s | p50 ms | CPU µs/req | RSS MB |\n${rows
      .map(
        (r) =>
          `| ${r.target} | ${fmt(r.rps, 0)} | ${fmt(r.p50, 3)} | ${fmt(r.cpuUsPerReq, 0)} | ${fmt(r.rssMb, 0)} |`,
      )
      .join('\n')}\n${ratios.join('\n')}\n`,
  );
  // A graceful stop, so that a profiled gateway writes its profile.
  keyward.child.kill('SIGTERM');
  await once(keyward.child, 'exit');
}

/**
 * `--only chat` (or `responses`: the stored Responses stream translated to the Anthropic-format
 * provider) with `BENCH_COMPARE=DIR`: this build and the one built in DIR (another checkout) beside
 * the bare proxy, in the same turns: an A/B of two builds that the VM's drift reaches alike.
 */
async function compareOnly([bare, keyward], other, gateways) {
  const group = [bare, keyward, other];
  for (const target of group) await loadOnce(target, 50, quick ? 1 : 3);
  process.stderr.write(`c=50: ${group.map((t) => t.name).join(', ')}, ${duration}s each, in turns…\n`);
  const rows = await loadInTurns(group, 50, duration);
  process.stdout.write(
    `\n| target | req/s | p50 ms | CPU µs/req | RSS MB | ÷ bare req/s | ÷ bare CPU |\n${rows
      .map(
        (r) =>
          `| ${r.target} | ${fmt(r.rps, 0)} | ${fmt(r.p50, 3)} | ${fmt(r.cpuUsPerReq, 0)} | ${fmt(r.rssMb, 0)} | ${fmt(r.rps / rows[0].rps)} | ${fmt(r.cpuUsPerReq / rows[0].cpuUsPerReq)} |`,
      )
      .join('\n')}\n`,
  );
  for (const gateway of gateways) {
    gateway.child.kill('SIGTERM');
    await once(gateway.child, 'exit');
  }
}

/** The translated path (OpenAI surface → Anthropic provider) and the bare proxy to that provider. */
const translatedPairs = (messages, keyward) => [
  [
    { name: 'bare proxy → anthropic', ...messages, body: messagesBody('claude-sonnet-4-5') },
    { name: 'keyward openai→anthropic', ...keyward, key: keyward.token, body: chatBody('bench-claude') },
  ],
  [
    { name: 'bare proxy → anthropic, stream', ...messages, body: messagesBody('claude-sonnet-4-5', true) },
    {
      name: 'keyward openai→anthropic, stream',
      ...keyward,
      key: keyward.token,
      body: chatBody('bench-claude', true),
    },
  ],
];

/** A dashboard login's session cookie, as the browser would send it back. */
async function dashboardCookie(keyward) {
  const res = await fetch(`${keyward.adminUrl}/admin/ui/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ credential: keyward.adminKey }),
  });
  if (!res.ok) throw new Error(`dashboard login failed: ${res.status}`);
  return res.headers.get('set-cookie').split(';')[0];
}

async function main() {
  const fake = await startAnnounced('bench/fake-server.mjs', { BENCH_PROVIDER_KEY: providerKey });
  const bare = await startAnnounced('bench/bare-proxy.mjs', {
    BENCH_UPSTREAM: fake.url,
    BENCH_PROVIDER_KEY: providerKey,
  });
  const fakeAnthropic = await startAnnounced('bench/fake-anthropic.mjs', { BENCH_PROVIDER_KEY: providerKey });
  const bareAnthropic = await startAnnounced('bench/bare-proxy.mjs', {
    BENCH_UPSTREAM: fakeAnthropic.url,
    BENCH_PROVIDER_KEY: providerKey,
    BENCH_KEY_HEADER: 'x-api-key',
  });
  const identity = await startIdentityProvider();
  const keyward = await startKeyward(fake.url, fakeAnthropic.url, identity.jwksUrl);
  const messages = { ...bareAnthropic, key: providerKey, path: '/v1/messages' };
  if (only === 'responses') {
    const other = process.env.BENCH_COMPARE;
    if (other === undefined) return responsesOnly(bare, messages, keyward);
    const compared = await startKeyward(fake.url, fakeAnthropic.url, identity.jwksUrl, [], undefined, other);
    const stored = (gateway, name) => ({ name, ...gateway, key: gateway.token, path: '/v1/responses' });
    return compareOnly(
      [
        {
          name: 'bare proxy → anthropic, stream',
          ...messages,
          body: messagesBody('claude-sonnet-4-5', true),
        },
        {
          ...stored(keyward, 'keyward responses→anthropic, stream'),
          body: responsesBody('bench-claude', true),
        },
      ],
      {
        ...stored(compared, `keyward (${other}) responses→anthropic, stream`),
        body: responsesBody('bench-claude', true),
      },
      [keyward, compared],
    );
  }
  if (only === 'chat') {
    const pair = [
      { name: 'bare undici proxy', ...bare, key: providerKey, model: 'gpt-4o-mini' },
      { name: 'keyward', ...keyward, key: keyward.token, model: 'bench-model' },
    ];
    const other = process.env.BENCH_COMPARE;
    if (other === undefined) return pairsOnly([pair], keyward);
    const compared = await startKeyward(fake.url, fakeAnthropic.url, identity.jwksUrl, [], undefined, other);
    return compareOnly(
      pair,
      { name: `keyward (${other})`, ...compared, key: compared.token, model: 'bench-model' },
      [keyward, compared],
    );
  }
  if (only === 'translated') return pairsOnly(translatedPairs(messages, keyward), keyward);
  if (only === 'ttfb') return ttfbOnly(bare, keyward);
  if (only === 'scale' || only === 'workers') return scaleOnly(bare, fake, fakeAnthropic, identity);
  const cookie = await sessionCookie(keyward.url, keyward.adminUrl, keyward.adminKey);
  const targets = [
    { name: 'direct (fake provider)', ...fake, key: providerKey, model: 'gpt-4o-mini' },
    { name: 'bare undici proxy', ...bare, key: providerKey, model: 'gpt-4o-mini' },
    { name: 'keyward', ...keyward, key: keyward.token, model: 'bench-model' },
    // The same load with the browser credentials, in the same interleaved slices.
    { name: 'keyward cookie session', ...keyward, cookie, model: 'bench-model' },
    { name: 'keyward jwt', ...keyward, key: await identity.sign(), model: 'bench-model' },
  ];

  process.stderr.write(`warming up (${quick ? 1 : 3}s each)…\n`);
  for (const target of targets) await loadOnce(target, 50, quick ? 1 : 3);

  const rows = [];
  for (const connections of [1, 50]) {
    process.stderr.write(
      `c=${connections}: ${targets.map((t) => t.name).join(', ')}, ${duration}s each, in turns…\n`,
    );
    rows.push(...(await loadInTurns(targets, connections, duration)));
  }
  // The translated path (OpenAI surface → Anthropic provider), against the bare proxy in front of
  // the same fake Anthropic provider, non-streaming and streaming, at c=50.
  const [plain, streamed] = translatedPairs(messages, keyward);
  const translated = [plain[0], streamed[0], plain[1], streamed[1]];
  for (const target of translated) await loadOnce(target, 50, quick ? 1 : 2);
  process.stderr.write(`c=50: the translated path and its bare proxy, ${duration}s each, in turns…\n`);
  rows.push(...(await loadInTurns(translated, 50, duration)));
  // A template run against the bare proxy's plain chat request, in the same turns.
  const templateRun = {
    name: 'keyward template run',
    ...keyward,
    key: keyward.token,
    path: '/v1/templates/bench-template/run',
    body: JSON.stringify({ params: { name: 'Ada' } }),
  };
  await loadOnce(templateRun, 50, quick ? 1 : 2);
  process.stderr.write(`c=50: a template run and the bare proxy, ${duration}s each, in turns…\n`);
  const [bareAgain, templateRow] = await loadInTurns([targets[1], templateRun], 50, duration);
  rows.push(templateRow);
  // The admin listener's API, with the admin key and with a dashboard session cookie.
  const admin = { url: keyward.adminUrl, pid: keyward.pid, path: '/admin/keys', method: 'GET' };
  const adminTargets = [
    { name: 'admin API (GET /admin/keys), admin key', ...admin, key: keyward.adminKey },
    {
      name: 'admin API (GET /admin/keys), dashboard cookie',
      ...admin,
      cookie: await dashboardCookie(keyward),
    },
  ];
  for (const target of adminTargets) await loadOnce(target, 10, quick ? 1 : 2);
  process.stderr.write(`c=10: the admin API, ${duration}s each, in turns…\n`);
  rows.push(...(await loadInTurns(adminTargets, 10, duration)));
  const responsesGroup = responsesTargets(bare, messages, keyward);
  for (const target of responsesGroup) await loadOnce(target, 50, quick ? 1 : 2);
  process.stderr.write(`c=50: /v1/responses and the bare proxies, ${duration}s each, in turns…\n`);
  rows.push(...(await loadInTurns(responsesGroup, 50, duration)));
  const scaleGroup = await scaleOutTargets(bare, fake, fakeAnthropic, identity);
  for (const target of scaleGroup) await loadOnce(target, 50, quick ? 1 : 2);
  process.stderr.write(`c=50: ${scaleGroup.map((t) => t.name).join(', ')}, ${duration}s each, in turns…\n`);
  const scaleRows = await loadInTurns(scaleGroup, 50, duration);
  rows.push({ ...scaleRows[0], target: 'bare undici proxy (scale-out run)' }, ...scaleRows.slice(1));
  const streaming = await ttfbInTurns(targets.slice(1));

  const revealUs = await revealCost();
  const row = (name, c) => rows.find((r) => r.target === name && r.connections === c);
  const ratios = {
    throughputC50: row('keyward', 50).rps / row('bare undici proxy', 50).rps,
    throughputC1: row('keyward', 1).rps / row('bare undici proxy', 1).rps,
    p50DeltaMsC1: row('keyward', 1).p50 - row('bare undici proxy', 1).p50,
    cpuPerReq: row('keyward', 50).cpuUsPerReq / row('bare undici proxy', 50).cpuUsPerReq,
    ttfbDeltaMs: streaming.keyward - streaming['bare undici proxy'],
    cookieSessionC50: row('keyward cookie session', 50).rps / row('keyward', 50).rps,
    jwtC50: row('keyward jwt', 50).rps / row('keyward', 50).rps,
    translatedC50: row('keyward openai→anthropic', 50).rps / row('bare proxy → anthropic', 50).rps,
    translatedStreamC50:
      row('keyward openai→anthropic, stream', 50).rps / row('bare proxy → anthropic, stream', 50).rps,
    templateC50: templateRow.rps / bareAgain.rps,
    adminCookieC10:
      row('admin API (GET /admin/keys), dashboard cookie', 10).rps /
      row('admin API (GET /admin/keys), admin key', 10).rps,
    responsesOpenAIC50: row('keyward responses→openai', 50).rps / row('bare proxy → openai', 50).rps,
    responsesOpenAIStreamC50:
      row('keyward responses→openai, stream', 50).rps / row('bare proxy → openai, stream', 50).rps,
    responsesAnthropicC50:
      row('keyward responses→anthropic', 50).rps / row('bare proxy → anthropic (responses run)', 50).rps,
    responsesAnthropicStreamC50:
      row('keyward responses→anthropic, stream', 50).rps /
      row('bare proxy → anthropic, stream (responses run)', 50).rps,
    workersTwoOverOneC50: scaleRows[2].rps / scaleRows[1].rps,
    ...(scaleRows[4] && {
      sqliteRedisOverSqliteC50: scaleRows[3].rps / scaleRows[1].rps,
      postgresC50: scaleRows[4].rps / scaleRows[0].rps,
      postgresOverSqliteC50: scaleRows[4].rps / scaleRows[1].rps,
    }),
  };
  const sdkSize = await clientSize();

  const lines = [
    '| target | c | req/s | p50 ms | p99 ms | CPU µs/req | RSS MB |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.target} | ${r.connections} | ${fmt(r.rps, 0)} | ${fmt(r.p50, 3)} | ${fmt(r.p99, 3)} | ${fmt(r.cpuUsPerReq, 0)} | ${fmt(r.rssMb, 0)} |`,
    ),
    '',
    `Keyward ÷ bare proxy: throughput ${fmt(ratios.throughputC50)}× at c=50, ${fmt(ratios.throughputC1)}× at c=1; ` +
      `p50 ${ratios.p50DeltaMsC1 < 0 ? '' : '+'}${fmt(ratios.p50DeltaMsC1, 3)} ms at c=1; CPU per request ${fmt(ratios.cpuPerReq)}×.`,
    `Browser credentials ÷ gateway token at c=50: cookie session ${fmt(ratios.cookieSessionC50)}×, ` +
      `JWT ${fmt(ratios.jwtC50)}×.`,
    `Translated path (OpenAI surface → Anthropic provider) ÷ bare proxy to the same provider at c=50: ` +
      `${fmt(ratios.translatedC50)}×, streaming ${fmt(ratios.translatedStreamC50)}×.`,
    `/v1/responses (stored, sealed) ÷ bare proxy to the same provider at c=50: to OpenAI ` +
      `${fmt(ratios.responsesOpenAIC50)}×, streaming ${fmt(ratios.responsesOpenAIStreamC50)}×; to Anthropic ` +
      `${fmt(ratios.responsesAnthropicC50)}×, streaming ${fmt(ratios.responsesAnthropicStreamC50)}×.`,
    `Streaming time to first byte (median of ${ttfbSamples}): bare ${fmt(streaming['bare undici proxy'])} ms, ` +
      `Keyward ${fmt(streaming.keyward)} ms.`,
    `Template run ÷ bare proxy (plain chat), measured in turns at c=50: ${fmt(ratios.templateC50)}×.`,
    `Admin API (GET /admin/keys) at c=10: ${fmt(row('admin API (GET /admin/keys), admin key', 10).rps, 0)} req/s with the admin key; ` +
      `the dashboard's cookie ${fmt(ratios.adminCookieC10)}× that.`,
    `Scale-out (${scaleGroup.length > 3 ? "the Redis and Postgres servers' CPU counted with their instances" : 'no postgres row'}) ${scaleRatios(scaleRows)}.`,
    `Provider key reveal (SecretString.reveal, once per request): ${fmt(revealUs)} µs.`,
    `keyward/client core: ${sdkSize.gzipped} B min+gz (budget ${sdkSize.budget} B).`,
  ];
  process.stdout.write(`\n${lines.join('\n')}\n`);

  const results = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version },
    durationSeconds: duration,
    rows,
    streamingTtfbMs: streaming,
    keyRevealUs: revealUs,
    clientSize: sdkSize,
    ratios,
  };
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(join(root, 'bench/results/latest.json'), `${JSON.stringify(results, null, 2)}\n`);

  const failed = rows.filter((r) => r.failures > 0);
  if (failed.length > 0) {
    process.stderr.write(
      `\nFAILED REQUESTS during the run: ${failed.map((r) => `${r.target} c=${r.connections}: ${r.failures}`).join(', ')}\n`,
    );
    process.exitCode = 1;
  }
}

main()
  .catch((error) => {
    process.stderr.write(`bench failed: ${error.stack ?? error}\n`);
    process.exitCode = 1;
  })
  .finally(stopAll);
