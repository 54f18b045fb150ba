/**
 * A gateway process in miniature, run as a child by the multi-process test: it opens its own
 * store on the shared file and, once the parent closes its stdin, records `KW_COUNT` events
 * through an AuditLog, then closes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AuditLog } from '../../../src/audit/index.js';
import { openSqliteStore } from '../../../src/store/sqlite.js';

const store = openSqliteStore(process.env.KW_DB!);
const errors: string[] = [];
const log = new AuditLog({
  store: store.audit,
  key: Buffer.from(process.env.KW_AUDIT_KEY!, 'hex'),
  redact: (text) => text,
  batchSize: 8,
  intervalMs: 2,
  onError: (error) => errors.push(error.message),
});
const count = Number(process.env.KW_COUNT);
// Start together: announce readiness, then wait for the parent to close stdin.
process.stderr.write('ready\n');
process.stdin.resume();
await new Promise((resolve) => process.stdin.on('end', resolve));
for (let i = 0; i < count; i++) {
  log.record('request', process.env.KW_ACTOR!, { i });
  if (i % 10 === 0) await sleep(1);
}
await log.close();
await store.close();
process.stdout.write(JSON.stringify({ errors, head: log.head }));
