import { useEffect, useState } from 'preact/hooks';
import { api, get } from '../api.js';
import { ErrorNote, Table } from '../ui.js';

interface Entry {
  seq: number;
  at: number;
  type: string;
  actor: string;
  data: Record<string, unknown>;
}
type Verdict =
  | { ok: true; checked: number; lastSeq: number }
  | { ok: false; checked: number; problem: { seq: number; kind: string; message: string } };

const PAGE = 50;

/** The audit log, filtered and paged, and the chain check with where it breaks. */
export function Audit() {
  const [type, setType] = useState('');
  const [actor, setActor] = useState('');
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const [pages, setPages] = useState<number[]>([0]);
  const [records, setRecords] = useState<Entry[]>([]);
  const [verdict, setVerdict] = useState<Verdict>();
  const [error, setError] = useState<string>();
  const after = pages.at(-1) ?? 0;
  useEffect(() => {
    const query = new URLSearchParams({ afterSeq: String(after), limit: String(PAGE) });
    if (type) query.set('type', type);
    if (actor) query.set('actor', actor);
    if (since) query.set('since', String(Date.parse(since)));
    if (until) query.set('until', String(Date.parse(until)));
    get<{ records: Entry[] }>(`/admin/audit?${query}`).then(
      (r) => setRecords(r.records),
      (e: Error) => setError(e.message),
    );
  }, [type, actor, since, until, after]);
  return (
    <section>
      <h1>Audit log</h1>
      <ErrorNote error={error} />
      <div class="filters">
        <label>
          Event
          <input
            value={type}
            placeholder="e.g. token.created"
            onChange={(e) => {
              setType(e.currentTarget.value);
              setPages([0]);
            }}
          />
        </label>
        <label>
          Actor
          <input
            value={actor}
            placeholder="token id, admin, cli"
            onChange={(e) => {
              setActor(e.currentTarget.value);
              setPages([0]);
            }}
          />
        </label>
        <label>
          From
          <input
            type="datetime-local"
            value={since}
            onChange={(e) => {
              setSince(e.currentTarget.value);
              setPages([0]);
            }}
          />
        </label>
        <label>
          Until
          <input
            type="datetime-local"
            value={until}
            onChange={(e) => {
              setUntil(e.currentTarget.value);
              setPages([0]);
            }}
          />
        </label>
        <button
          type="button"
          onClick={() =>
            api<Verdict>('POST', '/admin/audit/verify').then(setVerdict, (e: Error) => setError(e.message))
          }
        >
          Verify chain
        </button>
      </div>
      {verdict && (
        <p class={verdict.ok ? 'ok' : 'error'} role="status" id="audit-verdict">
          {verdict.ok
            ? `Chain intact: ${verdict.checked} records, last seq ${verdict.lastSeq}.`
            : `Chain BROKEN at seq ${verdict.problem.seq} (${verdict.problem.kind}): ${verdict.problem.message}. ${verdict.checked} records verified before it.`}
        </p>
      )}
      <Table
        head={['seq', 'time', 'event', 'actor', 'data']}
        rows={records.map((r) => [
          r.seq,
          new Date(r.at).toISOString(),
          r.type,
          r.actor,
          <code key="d">{JSON.stringify(r.data)}</code>,
        ])}
        empty="No record."
      />
      <div class="pager">
        <button type="button" disabled={pages.length === 1} onClick={() => setPages(pages.slice(0, -1))}>
          Newer
        </button>
        <button
          type="button"
          disabled={records.length < PAGE}
          onClick={() => setPages([...pages, records.at(-1)?.seq ?? after])}
        >
          Older
        </button>
      </div>
    </section>
  );
}
