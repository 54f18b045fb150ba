import type { FastifyRequest } from 'fastify';
import { PriceTable, UsageRecorder } from '../accounting/index.js';
import type { AuditLog } from '../audit/index.js';
import type { FailureGuard } from '../auth/failure-guard.js';
import type { Config } from '../config/index.js';
import { requestAccounting } from '../data-plane/request-accounting.js';
import { Admission } from '../limits/admission.js';
import { parseBudgetKey } from '../limits/admission-rules.js';
import {
  type IpcChannel,
  type Limiter,
  limiterFromConfig,
  refusingUnwritten,
  type SpentBefore,
  UsageUnwrittenError,
} from '../limits/index.js';
import type { Store } from '../store/index.js';
import { failureGuard } from './shared-failure-guard.js';
import type { Telemetry } from './telemetry.js';

export interface Traffic {
  prices: PriceTable;
  usage: UsageRecorder;
  limiter: Limiter;
  admission: Admission;
  failures: FailureGuard;
  /** Accounting when a response is over: limits settled, usage recorded, audit written. */
  onFinished(request: FastifyRequest, status: number, ms: number): void;
}

interface TrafficOptions {
  config: Config;
  store: Store;
  audit: AuditLog;
  telemetry: Telemetry;
  /** A limiter made elsewhere (a worker's, which asks the primary); else one from the configuration. */
  limiter?: Limiter | undefined;
  /** A worker's channel to the primary, which counts failed authentications with the other workers'. */
  channel?: IpcChannel | undefined;
  /** Whether a model name is a configured alias (usage keeps those by name, charged or not). */
  isAlias(model: string): boolean;
}

/** A budget's spend so far, from the store (after `beforeRead`, which writes what is still in memory). */
export function storedSpend(store: Store, beforeRead: () => Promise<void> = async () => {}): SpentBefore {
  return async (key) => {
    const budget = parseBudgetKey(key);
    if (!budget) return 0;
    await beforeRead();
    const who = budget.tokenId !== undefined ? { tokenId: budget.tokenId } : { userId: budget.userId! };
    return store.usage.spent(who, budget.fromDay, budget.toDay);
  };
}

/**
 * What meters client traffic: prices, the usage recorder, the limiter behind admission (rate
 * limits, quotas, budgets), the per-address failure guard, and the accounting of a finished request.
 */
export async function createTraffic({
  config,
  store,
  audit,
  telemetry,
  ...given
}: TrafficOptions): Promise<Traffic> {
  const { logger, metrics, alerts } = telemetry;
  const prices = new PriceTable(config.pricing);
  const usage = new UsageRecorder({
    store: store.usage,
    onError: (error) =>
      logger.error({ err: error }, 'writing usage failed; the counts are kept for the next attempt'),
  });
  // The store must hold every count still in memory before a budget's spend is read from it; the
  // recorder has logged why it could not.
  const spentBefore = storedSpend(store, () =>
    usage.written().catch(() => {
      throw new UsageUnwrittenError("this process's usage could not be written");
    }),
  );
  const limiter =
    given.limiter ??
    refusingUnwritten(
      await limiterFromConfig(config, spentBefore, (error, mode) => {
        metrics.limiterUnavailable(mode);
        logger.error(
          `the rate-limit backend (Redis) failed; requests are ${mode === 'closed' ? 'refused' : 'let through unlimited'} until it is back: ${error.message}`,
        );
      }),
    );
  const admission = new Admission(limiter, config, prices, {
    onBudgetExhausted: (subject) => alerts.budgetExhausted(subject),
    onSettleFailed: (error) => logger.error({ err: error }, 'settling rate limits failed'),
  });
  const failures = failureGuard(config.rateLimits.perIp.failuresPerMinute, 'data', given.channel);
  const onFinished = requestAccounting({
    prices,
    usage,
    admission,
    audit,
    auditRequests: config.audit.requests,
    alerts,
    isAlias: given.isAlias,
  });
  return { prices, usage, limiter, admission, failures, onFinished };
}
