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

/** Browser sessions by user: revoke one, or all of a user's. */
export function Sessions() {
  const [user, setUser] = useState('');
  const [sessions, setSessions] = useState<Session[]>([]);
  const [error, setError] = useState<string>();
  const load = () =>
    get<{ sessions: Session[] }>(`/admin/sessions${user ? `?user=${encodeURIComponent(user)}` : ''}`).then(
      (r) => setSessions(r.sessions),
      (e: Error) => setError(e.message),
    );
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
    </section>
  );
}
