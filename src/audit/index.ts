export { type AppendedRange, type AuditAppender, type HeadRecord, storeAppender } from './appender.js';
export { type AuditDestination, AuditLog, type AuditLogOptions, type AuditSink } from './audit-log.js';
export { canonicalJson } from './canonical.js';
export {
  AUDIT_HEAD,
  type ChainHead,
  type ChainProblem,
  type ChainProblemKind,
  macMatches,
  sealRecord,
  type UnsealedRecord,
  type VerifyOptions,
  type VerifyResult,
  verifyChain,
  verifyStoredChain,
} from './chain.js';
export * from './events.js';
export { AuthFailureSampler, type AuthFailureSamplerOptions } from './sampler.js';
export { isSecretName, scrubData } from './scrub.js';
export {
  type AppendRequest,
  type AppendResponse,
  type AppendThreadData,
  appendOnThread,
  ThreadAppender,
} from './thread-appender.js';
