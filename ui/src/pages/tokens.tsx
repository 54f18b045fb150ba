import { useEffect, useState } from 'preact/hooks';
import { api, get, money, type UsageRow } from '../api.js';
import { ErrorNote, Table } from '../ui.js';

interface Token {
  id: string;
  name: string;
  userId: string | null;
  scopes: string[];
  models: string[] | null;
  limits: { rpm?: number; tpm?: number };
  budget: { usd: number; period: string } | null;
  expiresAt: string | null;
  createdAt: string;
  revokedAt: string | null;
}
const SCOPES = ['models:read', 'chat', 'embeddings', 'templates', 'sessions', 'admin'];
const list = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
const number = (text: string) => (text.trim() === '' ? undefined : Number(text));

function CreateForm({ onCreated }: { onCreated(token: string): void }) {
  const [form, setForm] = useState({
    name: '',
    providers: '',
    templates: '',
    maxTokens: '',
    concurrency: '',
    userId: '',
    models: '',
    rpm: '',
    tpm: '',
    usd: '',
    period: 'month',
    expiresIn: '',
    ips: '',
  });
  const [scopes, setScopes] = useState(['models:read', 'chat', 'embeddings']);
  const [error, setError] = useState<string>();
  const field = (key: keyof typeof form, label: string, hint?: string) => (
    <label>
      {label}
      <input
        name={key}
        value={form[key]}
        placeholder={hint}
        onInput={(e) => setForm({ ...form, [key]: e.currentTarget.value })}
      />
    </label>
  );
  const submit = (event: Event) => {
    event.preventDefault();
    const rpm = number(form.rpm);
    const tpm = number(form.tpm);
    const usd = number(form.usd);
    const concurrency = number(form.concurrency);
    const maxTokens = number(form.maxTokens);
    api<{ token: string }>('POST', '/admin/tokens', {
      name: form.name,
      scopes,
      ...(form.userId && { userId: form.userId }),
      ...(form.models && { models: list(form.models) }),
      ...(form.providers && { providers: list(form.providers) }),
      ...(form.templates && { templates: list(form.templates) }),
      ...(maxTokens && { maxTokens }),
      ...((rpm || tpm || concurrency) && {
        limits: { ...(rpm && { rpm }), ...(tpm && { tpm }), ...(concurrency && { concurrency }) },
      }),
      ...(usd && { budget: { usd, period: form.period } }),
      ...(form.expiresIn && { expiresIn: form.expiresIn }),
      ...(form.ips && { ipAllowlist: list(form.ips) }),
    }).then(
      (created) => {
        setError(undefined);
        onCreated(created.token);
      },
      (e: Error) => setError(e.message),
    );
  };
  return (
    <form class="card" onSubmit={submit}>
      <h2>New token</h2>
      <ErrorNote error={error} />
      {field('name', 'Name')}
      {field('userId', 'User', 'optional')}
      <fieldset>
        <legend>Scopes</legend>
        {SCOPES.map((scope) => (
          <label key={scope} class="inline">
            <input
              type="checkbox"
              checked={scopes.includes(scope)}
              onChange={(e) =>
                setScopes(e.currentTarget.checked ? [...scopes, scope] : scopes.filter((s) => s !== scope))
              }
            />
            {scope}
          </label>
        ))}
      </fieldset>
      {field('models', 'Models', 'comma-separated; empty = any')}
      {field('providers', 'Providers', 'comma-separated ids; empty = any')}
      {field('templates', 'Templates', 'comma-separated; needs the templates scope')}
      {field('maxTokens', 'Most output tokens per request')}
      {field('rpm', 'Requests per minute')}
      {field('tpm', 'Tokens per minute')}
      {field('concurrency', 'Requests at once')}
      {field('usd', 'Budget (USD)')}
      <label>
        Budget period
        <select value={form.period} onChange={(e) => setForm({ ...form, period: e.currentTarget.value })}>
          <option value="day">day</option>
          <option value="month">month</option>
          <option value="total">total</option>
        </select>
      </label>
      {field('expiresIn', 'Expires in', 'e.g. 30d; empty = never')}
      {field('ips', 'IP ranges', 'comma-separated CIDRs; empty = anywhere')}
      <button type="submit">Create token</button>
    </form>
  );
}

/** Tokens: search, create (the secret shown once), revoke, and a token's usage. */
export function Tokens() {
  const [tokens, setTokens] = useState<Token[]>([]);
  const [query, setQuery] = useState('');
  const [fresh, setFresh] = useState<string>();
  const [usage, setUsage] = useState<{ id: string; rows: UsageRow[] }>();
  const [error, setError] = useState<string>();
  const load = () =>
    get<{ tokens: Token[] }>('/admin/tokens?includeRevoked=true').then(
      (r) => setTokens(r.tokens),
      (e: Error) => setError(e.message),
    );
  useEffect(() => void load(), []);
  const shown = tokens.filter((t) =>
    `${t.id} ${t.name} ${t.userId ?? ''}`.toLowerCase().includes(query.toLowerCase()),
  );
  return (
    <section>
      <h1>Tokens</h1>
      <ErrorNote error={error} />
      {fresh && (
        <div class="card secret" role="status">
          <p>The new token, shown once: copy it now.</p>
          <code id="new-token">{fresh}</code>
          <button type="button" onClick={() => navigator.clipboard.writeText(fresh)}>
            Copy
          </button>
          <button type="button" onClick={() => setFresh(undefined)}>
            Done
          </button>
        </div>
      )}
      <label>
        Search
        <input
          type="search"
          value={query}
          onInput={(e) => setQuery(e.currentTarget.value)}
          placeholder="id, name or user"
        />
      </label>
      <Table
        head={['id', 'name', 'user', 'scopes', 'limits', 'budget', 'expires', 'status', '']}
        rows={shown.map((t) => [
          t.id,
          t.name,
          t.userId ?? '—',
          t.scopes.join(' '),
          [t.limits.rpm && `${t.limits.rpm} rpm`, t.limits.tpm && `${t.limits.tpm} tpm`]
            .filter(Boolean)
            .join(', ') || '—',
          t.budget ? `$${t.budget.usd}/${t.budget.period}` : '—',
          t.expiresAt ?? 'never',
          t.revokedAt ? 'revoked' : 'active',
          <span key="a" class="actions">
            <button
              type="button"
              onClick={() =>
                get<{ rows: UsageRow[] }>(`/admin/usage?by=day&tokenId=${t.id}`).then(
                  (r) => setUsage({ id: t.id, rows: r.rows }),
                  (e: Error) => setError(e.message),
                )
              }
            >
              Usage
            </button>
            {!t.revokedAt && (
              <button
                type="button"
                class="danger"
                onClick={() =>
                  api('DELETE', `/admin/tokens/${t.id}`).then(load, (e: Error) => setError(e.message))
                }
              >
                Revoke
              </button>
            )}
          </span>,
        ])}
        empty="No token yet."
      />
      {usage && (
        <div class="card">
          <h2>Usage of {usage.id}</h2>
          <Table
            head={['day', 'requests', 'input tokens', 'output tokens', 'cost']}
            rows={usage.rows.map((r) => [
              r.group ?? '—',
              r.requests,
              r.inputTokens,
              r.outputTokens,
              money(r.costMicros),
            ])}
            empty="No request yet."
          />
        </div>
      )}
      <CreateForm
        onCreated={(token) => {
          setFresh(token);
          void load();
        }}
      />
    </section>
  );
}
