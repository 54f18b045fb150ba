export { limiterFromConfig } from './from-config.js';
export {
  type Announced,
  announceInstance,
  describeInstances,
  liveInstances,
  PerInstanceLimitsError,
  refusePerInstanceLimits,
} from './instances.js';
export { createIpcLimiter, type IpcChannel, ipcMessage, serveLimiter } from './ipc-limiter.js';
export { createMemoryLimiter, MemoryLimiter, type MemoryLimiterOptions } from './memory-limiter.js';
// The Redis limiter is not re-exported as a value: importing it loads ioredis (about 20 MB of RSS),
// which a gateway limiting in memory never needs. `limiterFromConfig` loads it when configured.
export type { FailMode, RedisLimiterOptions } from './redis-limiter.js';
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
export { refusingUnwritten, UsageUnwrittenError } from './unwritten-usage.js';
