import { useEffect, useState } from 'preact/hooks';
import { api, get } from '../api.js';
import { ErrorNote, Table } from '../ui.js';

interface PoolKey {
  id: string;
  fingerprint: string;
  state: string;
  coolingForMs: number;
  /** Models the provider rate-limited this key for, apart from the key itself. */
  coolingModels: Array<{ model: string; coolingForMs: number }>;
  weight: number;
  ageDays: number | null;
  requests: number;
  lastFailure: { kind: string; at: string } | null;
}

const STATE_NAMES: Record<string, string> = {
  active: 'active',
  cooling: 'cooling',
  invalid: 'benched (refused)',
};
const seconds = (ms: number) => `${Math.ceil(ms / 1000)} s`;

function stateOf(key: PoolKey): string {
  const state =
    key.state === 'cooling' ? `cooling ${seconds(key.coolingForMs)}` : (STATE_NAMES[key.state] ?? key.state);
  if (key.coolingModels.length === 0) return state;
  const models = key.coolingModels.map((m) => `${m.model} ${seconds(m.coolingForMs)}`).join(', ');
  return `${state}; cooling for ${models}`;
}

interface ProviderKeys {
  provider: string;
  source: string;
  loadedAt: string | null;
  lastError: string | null;
  keys: PoolKey[];
}
interface StoredKey {
  id: string;
  provider: string;
  fingerprint: string;
  status: string;
  createdAt: string;
}

/** Every provider's key pool as it is now, and the keys kept in the store with their actions. */
export function Keys() {
  const [data, setData] = useState<{ providers: ProviderKeys[]; stored: StoredKey[] }>();
  const [error, setError] = useState<string>();
  const [rotating, setRotating] = useState({ provider: '', value: '' });
  const load = () =>
    get<{ providers: ProviderKeys[]; stored: StoredKey[] }>('/admin/keys').then(setData, (e: Error) =>
      setError(e.message),
    );
  useEffect(() => void load(), []);
  const act = (method: string, path: string, body?: unknown) =>
    api(method, path, body).then(
      () => {
        setError(undefined);
        return load();
      },
      (e: Error) => setError(e.message),
    );
  if (!data) return <ErrorNote error={error} />;
  return (
    <section>
      <h1>Providers and keys</h1>
      <ErrorNote error={error} />
      <button type="button" onClick={() => act('POST', '/admin/keys/refresh', {})}>
        Refresh sources
      </button>
      {data.providers.map((p) => (
        <div key={p.provider} class="card">
          <h2>
            {p.provider}{' '}
            <small>
              ({p.source}
              {p.lastError ? `, last error: ${p.lastError}` : ''})
            </small>
          </h2>
          <Table
            head={['key', 'fingerprint', 'state', 'age', 'requests', 'last failure', 'weight']}
            rows={p.keys.map((k) => [
              k.id,
              <code key="f">{k.fingerprint}</code>,
              stateOf(k),
              k.ageDays === null ? '—' : `${k.ageDays} d`,
              k.requests,
              k.lastFailure
                ? `${k.lastFailure.kind === 'invalid' ? 'key refused' : 'rate limited'} at ${k.lastFailure.at}`
                : '—',
              k.weight,
            ])}
            empty="No key loaded."
          />
        </div>
      ))}
      <h2>Stored keys</h2>
      <Table
        head={['id', 'provider', 'fingerprint', 'status', 'created', '']}
        rows={data.stored.map((k) => [
          k.id,
          k.provider,
          <code key="f">{k.fingerprint}</code>,
          k.status,
          k.createdAt,
          <span key="a" class="actions">
            <button
              type="button"
              onClick={() =>
                act('POST', `/admin/keys/${k.id}/${k.status === 'active' ? 'disable' : 'enable'}`)
              }
            >
              {k.status === 'active' ? 'Disable' : 'Enable'}
            </button>
            <button type="button" class="danger" onClick={() => act('DELETE', `/admin/keys/${k.id}`)}>
              Remove
            </button>
          </span>,
        ])}
        empty="No key in the store."
      />
      <form
        class="card"
        onSubmit={(event) => {
          event.preventDefault();
          void act('POST', '/admin/keys/rotate', rotating).then(() =>
            setRotating({ provider: rotating.provider, value: '' }),
          );
        }}
      >
        <h2>Rotate or add a stored key</h2>
        <label>
          Provider
          <input
            value={rotating.provider}
            required
            onInput={(e) => setRotating({ ...rotating, provider: e.currentTarget.value })}
          />
        </label>
        <label>
          New key
          <input
            type="password"
            autocomplete="off"
            value={rotating.value}
            required
            onInput={(e) => setRotating({ ...rotating, value: e.currentTarget.value })}
          />
        </label>
        <button type="submit">Rotate (old keys disabled)</button>
        <button
          type="button"
          onClick={() =>
            act('POST', '/admin/keys', rotating).then(() =>
              setRotating({ provider: rotating.provider, value: '' }),
            )
          }
        >
          Add beside the others
        </button>
      </form>
    </section>
  );
}
