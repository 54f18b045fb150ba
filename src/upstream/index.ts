export { AbortHandle } from './abort.js';
export {
  type AnswerAccount,
  AnswerMemory,
  JointAnswer,
  MAX_HELD_ANSWER_BYTES,
  processAnswers,
} from './answer-memory.js';
export type { UpstreamCall } from './call.js';
export { classifyUpstreamError, UpstreamError, type UpstreamFailure } from './errors.js';
export {
  chargeUnanswered,
  type ExchangeHooks,
  type ExchangeRequest,
  exchange,
  type RetryOptions,
  type UpstreamResponse,
  type Verdict,
} from './exchange.js';
export { createProviderPool } from './pool.js';
export { probeUpstream } from './probe.js';
export { readCapped } from './read-capped.js';
export { AnswerTooLarge, MAX_ANSWER_BYTES, type UpstreamBody } from './response-body.js';
export { backoffDelay, isRetryableStatus, parseRetryAfter, retryAfterMs } from './retry-policy.js';
export type { InputShare, UnansweredAttempt } from './send.js';
export { LOOP_FIX, LOOP_STATUS, loopIn, onwardVia, VIA_HEADER, viaHops } from './via.js';
