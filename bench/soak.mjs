// npm run soak: `keyward start` (from dist/) under mixed traffic at a fixed rate for SOAK_MINUTES
// (default 10), sampling the gateway process's RSS, heap, active handles and open file
// descriptors. Fails on a rising trend over the second half, or on any 500 or transport error.
// Writes bench/results/soak.json. See bench/README.md ("Soak").
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { startFakeOpenAI } from '../test/support/fake-openai.js';
import { freePort } from '../test/support/free-port.js';
import { own, startAnnounced } from './children.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const minutes = Number(process.env.SOAK_MINUTES ?? 10);
const rate = Number(process.env.SOAK_RATE ?? 40);
const sampleEverySec = Number(process.env.SOAK_SAMPLE_SECONDS ?? 5);
const out = process.env.SOAK_OUT ?? join(root, 'bench/results/soak.json');
const providerKey = `sk-soak-${randomBytes(16).toString('hex')}`;
const clientKey = `kw-soak-${randomBytes(16).toString('hex')}`;
const adminKey = `kwa-soak-${randomBytes(16).toString('hex')}`;
/** Requests still waiting beyond this are not joined by more: the rate is then not held, and said so. */
const MAX_IN_FLIGHT = 400;

/**
 * The trend test. Over the second half of the run (the first is warm-up), a least-squares line
 * through each series; the series is rising when the growth that line predicts across the half
 * exceeds the larger of an absolute floor and a share of the series' mean there, and the half
 * also sets a new high above the first half's peak. The second condition keeps a sawtooth (V8's
 * old-generation collections and the allocator returning memory every few minutes: RSS climbed
 * 114 → 143 MB in the second half of the first full run, under its 148 MB peak of the first
 * half) from reading as a leak; a leak keeps making new highs.
 */
const TREND_BOUNDS = {
  rssMb: { floor: 16, share: 0.1 },
  heapUsedMb: { floor: 16, share: 0.1 },
  handles: { floor: 8, share: 0.1 },
  fds: { floor: 8, share: 0.1 },
};

function soakConfig(ports, urls) {
  const provider = (id, type, url, extra = {}) => ({
    id,
    type,
    baseUrl: `${url}/v1`,
    keys: { env: 'SOAK_PROVIDER_KEY' },
    ...extra,
  });
  return {
    server: { host: '127.0.0.1', port: ports.data },
    admin: { host: '127.0.0.1', port: ports.admin },
    auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
    providers: [
      provider('openai', 'openai', urls.openai),
      provider('anthropic', 'anthropic', urls.anthropic),
      provider('flaky', 'openai', urls.flaky, {
        retries: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 20 },
        timeouts: { firstByteMs: 2_000, idleMs: 1_000 },
      }),
    ],
    // Small enough that the soak's conversations are trimmed many times over.
    conversations: { maxItems: 40 },
    models: [
      { name: 'soak-gpt', provider: 'openai', model: 'gpt-4o-mini' },
      { name: 'soak-claude', provider: 'anthropic', model: 'claude-sonnet-4-5' },
      { name: 'soak-flaky', provider: 'flaky', model: 'gpt-4o-mini' },
    ],
  };
}

function cli(dir, file, args) {
  const run = spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), ...args, '--config', file], {
    env: { ...process.env, KEYWARD_DATA_DIR: dir },
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`keyward ${args.join(' ')} failed: ${run.stderr}`);
  return run.stdout;
}

async function startKeyward(urls) {
  const ports = { data: await freePort(), admin: await freePort() };
  const dir = mkdtempSync(join(tmpdir(), 'keyward-soak-'));
  const file = join(dir, 'keyward.json');
  writeFileSync(file, JSON.stringify(soakConfig(ports, urls)));
  const env = {
    ...process.env,
    KEYWARD_DATA_DIR: dir,
    KEYWARD_API_KEY: clientKey,
    KEYWARD_ADMIN_KEY: adminKey,
  };
  cli(dir, file, ['init']);
  // A token held to 30 requests a minute: its share of the traffic mostly gets 429.
  const limited = JSON.parse(
    cli(dir, file, ['tokens', 'create', '--name', 'limited', '--rpm', '30', '--json']),
  );
  const child = own(
    spawn(process.execPath, [join(root, 'dist/cli/main.js'), 'start', '--config', file], {
      env: { ...env, SOAK_PROVIDER_KEY: providerKey },
      stdio: ['ignore', 'ignore', 'inherit'],
    }),
  );
  const url = `http://127.0.0.1:${ports.data}`;
  for (let i = 0; i < 400; i++) {
    const ready = await request(`${url}/ready`).then(
      async (r) => {
        await r.body.dump();
        return r.statusCode === 200;
      },
      () => false,
    );
    if (ready) {
      const conversations = [];
      for (let i = 0; i < CONVERSATIONS; i++) {
        const res = await request(`${url}/v1/conversations`, {
          method: 'POST',
          headers: { authorization: `Bearer ${clientKey}`, 'content-type': 'application/json' },
          body: '{}',
        });
        conversations.push((await res.body.json()).id);
      }
      return {
        child,
        url,
        adminUrl: `http://127.0.0.1:${ports.admin}`,
        limited: limited.token,
        conversations,
      };
    }
    await sleep(50);
  }
  throw new Error('Keyward did not become ready');
}

const user = [{ role: 'user', content: 'Hello' }];
/** The traffic mix: each class's share of requests and how it is sent. */
function trafficClasses(gateway, flaky) {
  const chat = (model, stream, key = clientKey) => ({
    path: '/v1/chat/completions',
    key,
    body: { model, messages: user, ...(stream && { stream: true }) },
  });
  const failures = [{ status: 503 }, { destroy: true }, { status: 500 }, { cutAfterChunks: 1 }];
  return [
    { name: 'openai', weight: 30, ...chat('soak-gpt', false) },
    { name: 'openai-stream', weight: 20, ...chat('soak-gpt', true) },
    { name: 'translated', weight: 15, ...chat('soak-claude', false) },
    { name: 'translated-stream', weight: 10, ...chat('soak-claude', true) },
    {
      name: 'anthropic-surface-translated',
      weight: 5,
      path: '/v1/messages',
      key: clientKey,
      body: { model: 'soak-gpt', max_tokens: 64, messages: user },
    },
    {
      name: 'failing-upstream',
      weight: 12,
      ...chat('soak-flaky', true),
      before: () => flaky.script(failures[Math.floor(Math.random() * failures.length)]),
    },
    { name: 'rate-limited', weight: 8, ...chat('soak-gpt', false, gateway.limited) },
    ...storedStateClasses(gateway),
  ];
}

/** How many turns a `previous_response_id` chain runs before a new one starts. */
const CHAIN_TURNS = 30;
const CONVERSATIONS = 8;

/**
 * State kept in the gateway: stored Responses (each deleted again, or left for retention),
 * `previous_response_id` chains, and conversations continued through the header (one turn at a
 * time each, as the gateway requires) and trimmed at `conversations.maxItems`.
 */
function storedStateClasses(gateway) {
  const respond = (model, stream, extra = {}) => ({
    path: '/v1/responses',
    key: clientKey,
    body: { model, input: 'Hello', ...(stream && { stream: true }), ...extra },
  });
  let chain = { id: undefined, turns: 0 };
  const idle = Array.from({ length: CONVERSATIONS }, (_, i) => gateway.conversations[i]);
  return [
    {
      name: 'responses-stored',
      weight: 6,
      ...respond('soak-gpt', false),
      // Half are deleted at once; the rest stay stored, as a client that never deletes leaves them.
      after: (answer) =>
        Math.random() < 0.5 ? { method: 'DELETE', path: `/v1/responses/${answer.id}` } : undefined,
    },
    { name: 'responses-translated-stream', weight: 5, ...respond('soak-claude', true) },
    {
      name: 'responses-chain',
      weight: 4,
      prepare: () => {
        if (chain.turns >= CHAIN_TURNS || chain.pending) chain = { id: undefined, turns: 0 };
        const turn = chain;
        turn.pending = true;
        return {
          ...respond('soak-claude', false, turn.id ? { previous_response_id: turn.id } : {}),
          done: (answer) => {
            turn.pending = false;
            if (answer?.id) Object.assign(turn, { id: answer.id, turns: turn.turns + 1 });
          },
        };
      },
    },
    {
      name: 'conversation-header',
      weight: 5,
      prepare: () => {
        const conversation = idle.pop();
        if (!conversation) return undefined;
        return {
          path: '/v1/chat/completions',
          key: clientKey,
          headers: { 'x-keyward-conversation': conversation },
          body: { model: Math.random() < 0.5 ? 'soak-gpt' : 'soak-claude', messages: user },
          done: () => idle.push(conversation),
        };
      },
    },
  ];
}

function pick(classes) {
  const total = classes.reduce((sum, c) => sum + c.weight, 0);
  let roll = Math.random() * total;
  for (const c of classes) {
    roll -= c.weight;
    if (roll < 0) return c;
  }
  return classes[classes.length - 1];
}

function tally() {
  return { statuses: {}, transportErrors: 0, latencies: [] };
}

async function send(gateway, dispatcher, c, stats) {
  const started = performance.now();
  c.before?.();
  const call = c.prepare ? c.prepare() : c;
  if (!call) {
    stats.skipped = (stats.skipped ?? 0) + 1;
    return;
  }
  let answer;
  try {
    const res = await request(`${gateway.url}${call.path}`, {
      method: 'POST',
      dispatcher,
      headers: { authorization: `Bearer ${call.key}`, 'content-type': 'application/json', ...call.headers },
      body: JSON.stringify(call.body),
    });
    const text = await res.body.text();
    stats.statuses[res.statusCode] = (stats.statuses[res.statusCode] ?? 0) + 1;
    stats.latencies.push(performance.now() - started);
    if (res.statusCode === 200 && !call.body.stream) answer = JSON.parse(text);
    const next = answer && c.after?.(answer);
    if (next) {
      const follow = await request(`${gateway.url}${next.path}`, {
        method: next.method,
        dispatcher,
        headers: { authorization: `Bearer ${call.key}` },
      });
      await follow.body.dump();
      const key = `${next.method} ${follow.statusCode}`;
      stats.followUps = { ...stats.followUps, [key]: (stats.followUps?.[key] ?? 0) + 1 };
    }
  } catch {
    stats.transportErrors += 1;
  } finally {
    call.done?.(answer);
  }
}

async function metric(adminUrl, name) {
  const res = await request(`${adminUrl}/metrics`, { headers: { authorization: `Bearer ${adminKey}` } });
  const text = await res.body.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : Number.NaN;
}

async function sample(gateway, startedAt) {
  const pid = gateway.child.pid;
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  return {
    minute: (Date.now() - startedAt) / 60_000,
    rssMb: rssKb / 1024,
    heapUsedMb: (await metric(gateway.adminUrl, 'keyward_nodejs_heap_size_used_bytes')) / 2 ** 20,
    handles: await metric(gateway.adminUrl, 'keyward_nodejs_active_handles_total'),
    fds: readdirSync(`/proc/${pid}/fd`).length,
  };
}

/** Least-squares slope of y over x. */
function slope(points) {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxy = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return { slope: sxx === 0 ? 0 : sxy / sxx, mean: my };
}

function trends(samples) {
  const firstHalf = samples.slice(0, Math.floor(samples.length / 2));
  const half = samples.slice(Math.floor(samples.length / 2));
  const span = half[half.length - 1].minute - half[0].minute;
  return Object.fromEntries(
    Object.entries(TREND_BOUNDS).map(([series, bound]) => {
      const fit = slope(half.map((s) => ({ x: s.minute, y: s[series] })));
      const growth = fit.slope * span;
      const allowed = Math.max(bound.floor, bound.share * fit.mean);
      const firstPeak = Math.max(...firstHalf.map((s) => s[series]));
      const secondPeak = Math.max(...half.map((s) => s[series]));
      const round = (v) => Math.round(v * 1000) / 1000;
      return [
        series,
        {
          perMinute: round(fit.slope),
          growthOverSecondHalf: round(growth),
          allowed: round(allowed),
          firstHalfPeak: round(firstPeak),
          secondHalfPeak: round(secondPeak),
          rising: growth > allowed && secondPeak > firstPeak,
        },
      ];
    }),
  );
}

const percentile = (sorted, p) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

function summary(byClass) {
  return Object.fromEntries(
    Object.entries(byClass).map(([name, s]) => {
      const sorted = s.latencies.sort((a, b) => a - b);
      return [
        name,
        {
          requests: sorted.length + s.transportErrors,
          statuses: s.statuses,
          ...(s.followUps && { followUps: s.followUps }),
          ...(s.skipped && { notSentWhileBusy: s.skipped }),
          transportErrors: s.transportErrors,
          p50Ms: Math.round(percentile(sorted, 50) * 10) / 10,
          p99Ms: Math.round(percentile(sorted, 99) * 10) / 10,
        },
      ];
    }),
  );
}

async function main() {
  const openai = await startFakeOpenAI({ keys: [providerKey] });
  const flaky = await startFakeOpenAI({ keys: [providerKey] });
  const { url: anthropic } = await startAnnounced('bench/fake-anthropic.mjs', {
    BENCH_PROVIDER_KEY: providerKey,
  });
  const gateway = await startKeyward({ openai: openai.url, flaky: flaky.url, anthropic });
  const classes = trafficClasses(gateway, flaky);
  const byClass = Object.fromEntries(classes.map((c) => [c.name, tally()]));
  const dispatcher = new Agent({ connections: 64, keepAliveTimeout: 4_000 });
  const samples = [];
  let inFlight = 0;
  let skipped = 0;
  const startedAt = Date.now();
  const endAt = startedAt + minutes * 60_000;
  console.error(`soak: ${minutes} min at ${rate} req/s against pid ${gateway.child.pid}`);

  const TICK_MS = 100;
  let due = 0;
  const ticker = setInterval(() => {
    due += (rate * TICK_MS) / 1000;
    for (; due >= 1; due -= 1) {
      if (inFlight >= MAX_IN_FLIGHT) {
        skipped += 1;
        continue;
      }
      const c = pick(classes);
      inFlight += 1;
      void send(gateway, dispatcher, c, byClass[c.name]).finally(() => {
        inFlight -= 1;
      });
    }
  }, TICK_MS);
  while (Date.now() < endAt) {
    samples.push(await sample(gateway, startedAt));
    const last = samples[samples.length - 1];
    console.error(
      `soak: ${last.minute.toFixed(1)} min rss ${last.rssMb.toFixed(1)} MB heap ${last.heapUsedMb.toFixed(1)} MB handles ${last.handles} fds ${last.fds} in flight ${inFlight}`,
    );
    // The fakes remember every request; the soak needs none of that.
    openai.reset();
    flaky.reset();
    await sleep(Math.min(sampleEverySec * 1000, Math.max(0, endAt - Date.now())));
  }
  clearInterval(ticker);
  while (inFlight > 0) await sleep(50);
  samples.push(await sample(gateway, startedAt));

  const trend = trends(samples);
  const classesOut = summary(byClass);
  const sent = Object.values(classesOut).reduce((s, c) => s + c.requests, 0);
  const errors500 = Object.values(classesOut).reduce(
    (s, c) =>
      s +
      (c.statuses[500] ?? 0) +
      Object.entries(c.followUps ?? {})
        .filter(([key]) => key.endsWith(' 500'))
        .reduce((n, [, count]) => n + count, 0),
    0,
  );
  const transport = Object.values(classesOut).reduce((s, c) => s + c.transportErrors, 0);
  const problems = [
    ...Object.entries(trend)
      .filter(([, t]) => t.rising)
      .map(
        ([series, t]) =>
          `${series} rising: +${t.growthOverSecondHalf} over the second half (allowed ${t.allowed}), peak ${t.secondHalfPeak} above ${t.firstHalfPeak}`,
      ),
    ...(errors500 > 0 ? [`${errors500} responses were 500`] : []),
    ...(transport > 0 ? [`${transport} requests failed without an HTTP answer`] : []),
    ...(skipped > 0 ? [`${skipped} requests not sent: ${MAX_IN_FLIGHT} were in flight (rate not held)`] : []),
  ];
  const result = {
    when: new Date(startedAt).toISOString(),
    node: process.version,
    minutes,
    ratePerSecond: rate,
    sent,
    achievedPerSecond: Math.round((sent / ((Date.now() - startedAt) / 1000)) * 10) / 10,
    classes: classesOut,
    trendBounds: TREND_BOUNDS,
    trend,
    first: samples[0],
    last: samples[samples.length - 1],
    peak: {
      rssMb: Math.max(...samples.map((s) => s.rssMb)),
      heapUsedMb: Math.max(...samples.map((s) => s.heapUsedMb)),
      handles: Math.max(...samples.map((s) => s.handles)),
      fds: Math.max(...samples.map((s) => s.fds)),
    },
    samples,
    passed: problems.length === 0,
    problems,
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify({ passed: result.passed, problems, sent, trend, peak: result.peak }, null, 2));
  await dispatcher.close();
  await Promise.all([openai.close(), flaky.close()]);
  process.exit(result.passed ? 0 : 1);
}

await main();
