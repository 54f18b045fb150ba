import { useEffect, useState } from 'preact/hooks';
import type { LiveGroup, LiveSecond } from '../../../src/observability/live-stats.js';
import { daysAgo, get, money, today, type UsageRow } from '../api.js';
import { Chart } from '../chart.js';
import { ErrorNote, Stat, Table } from '../ui.js';

const PALETTE = ['#2563eb', '#059669', '#d97706', '#7c3aed', '#db2777', '#0891b2', '#65a30d', '#dc2626'];
interface Live {
  inFlight: number;
  seconds: LiveSecond[];
  providers: LiveGroup[];
  models: LiveGroup[];
}
const sum = (rows: LiveSecond[], pick: (s: LiveSecond) => number) => rows.reduce((n, s) => n + pick(s), 0);

/** The last hour live (refreshed every 2 s) and today's spend by model. */
export function Overview() {
  const [live, setLive] = useState<Live>();
  const [models, setModels] = useState<UsageRow[]>([]);
  const [days, setDays] = useState<UsageRow[]>([]);
  const [error, setError] = useState<string>();
  useEffect(() => {
    get<{ rows: UsageRow[] }>(`/admin/usage?by=day&from=${daysAgo(29)}&to=${today()}`).then(
      (r) => setDays(r.rows.filter((row) => row.group)),
      (e: Error) => setError(e.message),
    );
    const load = () =>
      Promise.all([
        get<Live>('/admin/stats/live'),
        get<{ rows: UsageRow[] }>(`/admin/usage?by=model&from=${today()}&to=${today()}`),
      ]).then(
        ([l, u]) => {
          setLive(l);
          setModels(u.rows);
        },
        (e: Error) => setError(e.message),
      );
    void load();
    const timer = setInterval(load, 2000);
    return () => clearInterval(timer);
  }, []);
  if (!live) return <ErrorNote error={error} />;
  const lastMinute = live.seconds.filter((s) => s.t > Date.now() / 1000 - 60);
  const requests = sum(lastMinute, (s) => s.requests);
  const errors = sum(lastMinute, (s) => s.clientErrors + s.serverErrors);
  // Every day of the 30, quiet ones as zero, as for the seconds of the hour below.
  const today0 = Math.floor(Date.parse(`${today()}T00:00:00Z`) / 1000);
  const month = Array.from({ length: 30 }, (_, i) => today0 - (29 - i) * 86_400);
  const perDay = new Map(days.map((r) => [Date.parse(`${r.group}T00:00:00Z`) / 1000, r.requests]));
  // Every second of the hour, quiet ones as zero, so the chart spans the hour whatever the traffic.
  const end = Math.floor(Date.now() / 1000);
  const x = Array.from({ length: 3600 }, (_, i) => end - 3599 + i);
  const at = new Map(live.seconds.map((s) => [s.t, s]));
  const series = (pick: (s: LiveSecond) => number) =>
    x.map((t) => {
      const second = at.get(t);
      return second ? pick(second) : 0;
    });
  return (
    <section>
      <h1>Overview</h1>
      <ErrorNote error={error} />
      <div class="stats">
        <Stat label="requests/s (last minute)" value={(requests / 60).toFixed(2)} />
        <Stat label="error rate" value={requests ? `${((errors / requests) * 100).toFixed(1)}%` : '0%'} />
        <Stat label="p50 latency" value={`${(lastMinute.at(-1)?.p50Ms ?? 0).toFixed(1)} ms`} />
        <Stat label="p99 latency" value={`${(lastMinute.at(-1)?.p99Ms ?? 0).toFixed(1)} ms`} />
        <Stat label="tokens/min" value={String(sum(lastMinute, (s) => s.tokens))} />
        <Stat label="in flight" value={String(live.inFlight)} />
        <Stat label="cost today" value={money(models.reduce((n, r) => n + r.costMicros, 0))} />
      </div>
      <Chart
        title="Requests per second, last hour"
        x={x}
        series={[
          { label: 'requests', values: series((s) => s.requests), color: '#2563eb' },
          { label: '4xx', values: series((s) => s.clientErrors), color: '#d97706' },
          { label: '5xx', values: series((s) => s.serverErrors), color: '#dc2626' },
        ]}
      />
      <Chart
        title="Latency (ms), last hour"
        x={x}
        series={[
          { label: 'p50', values: series((s) => s.p50Ms), color: '#059669' },
          { label: 'p99', values: series((s) => s.p99Ms), color: '#7c3aed' },
        ]}
      />
      <Chart
        title="Requests per second by provider, last hour"
        x={x}
        series={live.providers.slice(0, PALETTE.length).map((g, i) => ({
          label: g.name,
          values: series((s) => s.byProvider[i] ?? 0),
          color: PALETTE[i]!,
        }))}
      />
      <Chart
        title="Requests per second by model, last hour"
        x={x}
        series={live.models.slice(0, PALETTE.length).map((g, i) => ({
          label: g.name,
          values: series((s) => s.byModel[i] ?? 0),
          color: PALETTE[i]!,
        }))}
      />
      <h2>Last 30 days</h2>
      <Chart
        title="Requests per day, last 30 days"
        x={month}
        series={[
          {
            label: 'requests',
            values: month.map((t) => perDay.get(t) ?? 0),
            color: '#2563eb',
          },
        ]}
      />
      <h2>Last hour by provider</h2>
      <Table
        head={['provider', 'requests', 'errors', 'tokens', 'cost']}
        rows={live.providers.map((g) => [g.name, g.requests, g.errors, g.tokens, money(g.costMicros)])}
      />
      <h2>Last hour by model</h2>
      <Table
        head={['model', 'requests', 'errors', 'tokens', 'cost']}
        rows={live.models.map((g) => [g.name, g.requests, g.errors, g.tokens, money(g.costMicros)])}
      />
      <h2>Today by model</h2>
      <Table
        head={['model', 'requests', 'input tokens', 'output tokens', 'cost']}
        rows={models.map((r) => [
          r.group ?? '—',
          r.requests,
          r.inputTokens,
          r.outputTokens,
          money(r.costMicros),
        ])}
      />
    </section>
  );
}
