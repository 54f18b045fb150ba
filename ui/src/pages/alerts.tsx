import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.js';
import { ErrorNote, Table } from '../ui.js';

interface Alert {
  kind: string;
  subject: string;
  message: string;
  at: number;
  detail?: Record<string, unknown>;
}

/** The alerts raised since the gateway started, newest first, with what raised them. */
export function Alerts() {
  const [alerts, setAlerts] = useState<Alert[]>([]);
  const [error, setError] = useState<string>();
  useEffect(
    () =>
      void get<{ alerts: Alert[] }>('/admin/alerts').then(
        (r) => setAlerts(r.alerts),
        (e: Error) => setError(e.message),
      ),
    [],
  );
  return (
    <section>
      <h1>Alerts</h1>
      <ErrorNote error={error} />
      <Table
        head={['time', 'kind', 'subject', 'what happened', 'detail']}
        rows={alerts.map((a) => [
          new Date(a.at).toISOString(),
          a.kind,
          a.subject,
          a.message,
          <code key="d">{JSON.stringify(a.detail ?? {})}</code>,
        ])}
        empty="No alert since the gateway started."
      />
    </section>
  );
}
