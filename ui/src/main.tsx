import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, get } from './api.js';
import { Alerts } from './pages/alerts.js';
import { Audit } from './pages/audit.js';
import { Keys } from './pages/keys.js';
import { Overview } from './pages/overview.js';
import { Sessions } from './pages/sessions.js';
import { Tokens } from './pages/tokens.js';
import { Usage } from './pages/usage.js';
import { ErrorNote } from './ui.js';

const PAGES = {
  overview: { title: 'Overview', view: Overview },
  keys: { title: 'Providers and keys', view: Keys },
  tokens: { title: 'Tokens', view: Tokens },
  sessions: { title: 'Sessions', view: Sessions },
  usage: { title: 'Usage and cost', view: Usage },
  audit: { title: 'Audit log', view: Audit },
  alerts: { title: 'Alerts', view: Alerts },
} as const;
type PageName = keyof typeof PAGES;

const pageOf = (): PageName => {
  const name = location.hash.slice(2);
  // Own names only: `in` also finds what every object inherits (#/constructor, #/toString).
  return Object.hasOwn(PAGES, name) ? (name as PageName) : 'overview';
};

function Login({ onIn }: { onIn(): void }) {
  const [credential, setCredential] = useState('');
  const [error, setError] = useState<string>();
  return (
    <form
      class="login card"
      onSubmit={(event) => {
        event.preventDefault();
        api('POST', '/admin/ui/login', { credential }).then(onIn, (e: Error) => setError(e.message));
      }}
    >
      <h1>Keyward</h1>
      <ErrorNote error={error} />
      <label>
        Admin key or admin token
        <input
          type="password"
          name="credential"
          autocomplete="current-password"
          required
          value={credential}
          onInput={(e) => setCredential(e.currentTarget.value)}
        />
      </label>
      <button type="submit">Log in</button>
    </form>
  );
}

function App() {
  const [state, setState] = useState<'loading' | 'out' | 'in'>('loading');
  const [page, setPage] = useState(pageOf());
  const check = () =>
    get<{ loggedIn: boolean }>('/admin/ui/session').then(
      (session) => setState(session.loggedIn ? 'in' : 'out'),
      () => setState('out'),
    );
  useEffect(() => {
    void check();
    const onHash = () => setPage(pageOf());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  if (state === 'loading') return null;
  if (state === 'out') return <Login onIn={() => setState('in')} />;
  const View = PAGES[page].view;
  return (
    <div class="shell">
      <nav aria-label="Dashboard">
        <strong>Keyward</strong>
        {Object.entries(PAGES).map(([name, { title }]) => (
          <a key={name} href={`#/${name}`} aria-current={name === page ? 'page' : undefined}>
            {title}
          </a>
        ))}
        <button type="button" onClick={() => api('POST', '/admin/ui/logout').finally(() => setState('out'))}>
          Log out
        </button>
      </nav>
      <main>
        <View />
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
