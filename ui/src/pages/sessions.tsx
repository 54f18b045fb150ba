import { useEffect, useState } from 'preact/hooks';
import { api, get } from '../api.js';
import { ErrorNote, Table } from '../ui.js';

interface Session {
  id: string;
  userId: string | null;
  createdAt: string;
  lastUsedAt?: string | null;
  revokedAt: string | null;
}

/** Browser sessions by user, a page at a time: revoke one, or all of a user's. */
export function Sessions() {
  const [user, setUser] = useState('');
  const [sessions, setSessions] = useState<Session[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string>();
  const page = (after?: string) => {
    const query = new URLSearchParams({ ...(user && { user }), ...(after && { after }) }).toString();
    return get<{ sessions: Session[]; next: string | null }>(
      `/admin/sessions${query ? `?${query}` : ''}`,
    ).then(
      (r) => {
        setSessions((shown) => (after ? [...shown, ...r.sessions] : r.sessions));
        setNext(r.next);
      },
      (e: Error) => setError(e.message),
    );
  };
  const load = () => page();
  useEffect(() => void load(), [user]);
  const act = (path: string) => api('DELETE', path).then(load, (e: Error) => setError(e.message));
  return (
    <section>
      <h1>Sessions</h1>
      <ErrorNote error={error} />
      <div class="filters">
        <label>
          User
          <input value={user} onChange={(e) => setUser(e.currentTarget.value)} placeholder="all users" />
        </label>
        {user && (
          <button
            type="button"
            class="danger"
            onClick={() => act(`/admin/sessions?user=${encodeURIComponent(user)}`)}
          >
            Revoke all of {user}'s
          </button>
        )}
      </div>
      <Table
        head={['session', 'user', 'created', 'status', '']}
        rows={sessions.map((s) => [
          s.id,
          s.userId ?? '—',
          s.createdAt,
          s.revokedAt ? 'revoked' : 'active',
          !s.revokedAt && (
            <button key="r" type="button" class="danger" onClick={() => act(`/admin/sessions/${s.id}`)}>
              Revoke
            </button>
          ),
        ])}
        empty="No active session."
      />
      {next && (
        <button type="button" onClick={() => page(next)}>
          More sessions
        </button>
      )}
    </section>
  );
}
