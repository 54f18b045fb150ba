export { limiterFromConfig } from './from-config.js';
export { type Announced, announceInstance, PerInstanceLimitsError } from './instances.js';
export { createIpcLimiter, type IpcChannel, serveLimiter } from './ipc-limiter.js';
export { createMemoryLimiter, MemoryLimiter, type MemoryLimiterOptions } from './memory-limiter.js';
export {
  createRedisLimiter,
  type FailMode,
  LimiterUnavailableError,
  RedisLimiter,
  type RedisLimiterOptions,
} from './redis-limiter.js';
export type {
  AcquireRequest,
  Acquisition,
  BudgetRule,
  BudgetStatus,
  ConcurrencyRule,
  ConcurrencyStatus,
  Denial,
  Lease,
  Limiter,
  LimitStatus,
  Quota,
  RateRule,
  RateStatus,
  SpentBefore,
} from './types.js';
