import { AUDIT_HEAD, AuditLog, AuthFailureSampler, storeAppender, ThreadAppender } from '../audit/index.js';
import { addressSubject } from '../auth/address-subject.js';
import type { Config } from '../config/index.js';
import type { Store } from '../store/index.js';
import type { Telemetry } from './telemetry.js';
import type { WriterThread } from './writer-thread.js';

interface AuditOptions {
  config: Config;
  store: Store;
  auditKey: Buffer;
  /** The writer thread, started with this key and `AUDIT_HEAD` (see `GatewayOptions.writerThread`). */
  thread: WriterThread | undefined;
  telemetry: Telemetry;
}

/** The audit log, and the sampler that keeps failed authentications from flooding it. */
export function createAudit({ config, store, auditKey, thread, telemetry }: AuditOptions) {
  const audit = new AuditLog({
    // The newest record is kept beside the chain so that `keyward audit verify` can tell a cut
    // tail from a short log.
    // The thread writes to the SQLite file itself; Postgres appends without blocking the event loop.
    appender: thread
      ? new ThreadAppender(thread)
      : storeAppender(store.audit, auditKey, { meta: store.meta, name: AUDIT_HEAD }),
    redact: (text) => telemetry.redactor.redact(text),
    batchSize: config.audit.batchSize,
    intervalMs: config.audit.intervalMs,
    maxQueue: config.audit.maxQueue,
    onError: (error) => telemetry.logger.error({ err: error }, 'audit log'),
  });
  telemetry.metrics.observeAudit(() => ({ pending: audit.pending, dropped: audit.dropped }));
  return { audit, authFailures: new AuthFailureSampler({ log: audit, subjectOf: addressSubject }) };
}
