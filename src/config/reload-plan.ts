import type { Config, ProviderConfig } from './schema.js';

/** What a SIGHUP can apply to a running gateway, and what only a restart can. */
export interface ReloadPlan {
  /** Settings applied now, by path (`models`, `rateLimits`, `logging.level`, `providers[openai].keys`). */
  apply: string[];
  /** Settings that changed but take effect only after a restart, by path. */
  restart: string[];
  /** Providers whose `keys` block changed (loaded from the new source). */
  providerKeys: string[];
}

/** Top-level sections a running gateway swaps in whole. */
const LIVE = new Set(['models', 'budgets', 'pricing', 'alerts', 'templates']);
/** Parts of `rateLimits` the limiter was built with: another backend means new connections. */
const LIMITER_BUILT = new Set(['backend', 'failMode', 'perIp']);

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function changedKeys(a: object | undefined, b: object | undefined): string[] {
  const left = (a ?? {}) as Record<string, unknown>;
  const right = (b ?? {}) as Record<string, unknown>;
  return [...new Set([...Object.keys(left), ...Object.keys(right)])].filter((k) => !same(left[k], right[k]));
}

function planProviders(
  current: readonly ProviderConfig[],
  next: readonly ProviderConfig[],
  plan: ReloadPlan,
) {
  const before = new Map(current.map((p) => [p.id, p]));
  const after = new Map(next.map((p) => [p.id, p]));
  for (const id of before.keys()) if (!after.has(id)) plan.restart.push(`providers[${id}] (removed)`);
  for (const [id, provider] of after) {
    const old = before.get(id);
    if (!old) {
      plan.restart.push(`providers[${id}] (added)`);
      continue;
    }
    for (const key of changedKeys(old, provider)) {
      if (key === 'keys') {
        plan.apply.push(`providers[${id}].keys`);
        plan.providerKeys.push(id);
      } else plan.restart.push(`providers[${id}].${key}`);
    }
  }
}

/** What differs between two configurations, each change sorted into applied live or after a restart. */
function diff(current: Config, next: Config): ReloadPlan {
  const plan: ReloadPlan = { apply: [], restart: [], providerKeys: [] };
  for (const section of changedKeys(current, next) as Array<keyof Config>) {
    if (section === 'providers') planProviders(current.providers, next.providers, plan);
    else if (LIVE.has(section)) plan.apply.push(section);
    else if (section === 'logging' || section === 'rateLimits') {
      for (const key of changedKeys(current[section], next[section])) {
        const live = section === 'logging' ? key === 'level' : !LIMITER_BUILT.has(key);
        (live ? plan.apply : plan.restart).push(`${section}.${key}`);
      }
    } else plan.restart.push(section);
  }
  return plan;
}

/**
 * Compares a re-read configuration with the one in effect (`current`: what earlier reloads
 * applied) and the one the process started with. What can be applied live is what differs from
 * `current`, so that a file put back as it was is applied too; what needs a new listener,
 * connection pool or store is what still differs from the start, whatever reloads came in
 * between, named path by path so the log can say exactly what waits for a restart. Models that
 * name a provider the running gateway does not have wait too.
 */
export function planReload(current: Config, next: Config, started: Config = current): ReloadPlan {
  const live = diff(current, next);
  const plan: ReloadPlan = {
    apply: live.apply,
    restart: started === current ? live.restart : diff(started, next).restart,
    providerKeys: live.providerKeys,
  };
  const running = new Set(started.providers.map((p) => p.id));
  const missing = next.models.some((m) =>
    [...(m.targets ?? [{ provider: m.provider! }]), ...m.fallbacks].some((t) => !running.has(t.provider)),
  );
  if (missing && plan.apply.includes('models')) {
    plan.apply = plan.apply.filter((path) => path !== 'models');
    plan.restart.push('models (they name a provider that starts only with a restart)');
  }
  return plan;
}
