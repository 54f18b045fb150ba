import { useEffect, useState } from 'preact/hooks';
import { daysAgo, downloadCsv, get, money, today, type UsageRow } from '../api.js';
import { Chart } from '../chart.js';
import { ErrorNote, Table } from '../ui.js';

/** Usage and cost by token, user, model or day over a date range, with a chart and CSV export. */
export function Usage() {
  const [by, setBy] = useState('day');
  const [from, setFrom] = useState(daysAgo(29));
  const [to, setTo] = useState(today());
  const [rows, setRows] = useState<UsageRow[]>([]);
  const [error, setError] = useState<string>();
  useEffect(() => {
    get<{ rows: UsageRow[] }>(`/admin/usage?by=${by}&from=${from}&to=${to}`).then(
      (r) => {
        setRows(r.rows);
        setError(undefined);
      },
      (e: Error) => setError(e.message),
    );
  }, [by, from, to]);
  const days = by === 'day' ? rows.filter((r) => r.group) : [];
  return (
    <section>
      <h1>Usage and cost</h1>
      <ErrorNote error={error} />
      <div class="filters">
        <label>
          Group by
          <select value={by} onChange={(e) => setBy(e.currentTarget.value)}>
            {['day', 'token', 'user', 'model', 'template'].map((g) => (
              <option key={g} value={g}>
                {g}
              </option>
            ))}
          </select>
        </label>
        <label>
          From
          <input type="date" value={from} onChange={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label>
          To
          <input type="date" value={to} onChange={(e) => setTo(e.currentTarget.value)} />
        </label>
        <button
          type="button"
          onClick={() => downloadCsv(`keyward-usage-${by}-${from}-${to}.csv`, rows)}
          disabled={rows.length === 0}
        >
          Export CSV
        </button>
      </div>
      {days.length > 1 && (
        <Chart
          title="Cost per day (USD)"
          x={days.map((r) => Date.parse(`${r.group}T00:00:00Z`) / 1000)}
          series={[{ label: 'cost', values: days.map((r) => r.costMicros / 1_000_000), color: '#2563eb' }]}
        />
      )}
      <Table
        head={[by, 'requests', 'input tokens', 'output tokens', 'cached', 'cost']}
        rows={rows.map((r) => [
          r.group ?? '—',
          r.requests,
          r.inputTokens,
          r.outputTokens,
          r.cachedTokens,
          money(r.costMicros),
        ])}
        empty="No usage in this range."
      />
    </section>
  );
}
