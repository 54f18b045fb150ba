import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { InstanceRecord, InstanceStore } from '../store/index.js';

/** How often an instance tells the store it is alive; one silent for LIVE_MS is taken for gone. */
const HEARTBEAT_MS = 5_000;
const LIVE_MS = 3 * HEARTBEAT_MS;

/** Refusal to start beside another instance when rate limits would multiply. */
export class PerInstanceLimitsError extends Error {
  override name = 'PerInstanceLimitsError';
}

export interface InstanceOptions {
  limits: 'memory' | 'redis';
  /** rateLimits.perInstance: the operator accepts limits kept per instance. */
  perInstance: boolean;
  /**
   * The master key this instance seals with (`MasterKey.id`) now, sent with each beat: it changes
   * when the key file does. Undefined when it holds none yet.
   */
  masterKeyId(): string | undefined;
  onError(error: Error): void;
}

export interface Announced {
  /** Beats now, not at the next interval: the key it seals with changed, and a rotation waits for that. */
  beat(): void;
  /** Stops the heartbeat and removes this instance from the store. */
  close(): Promise<void>;
}

/**
 * The instances this process runs now (createGateway may start several): a row with our pid is
 * one of them, or else a former life of this process (a container restarted with pid 1).
 */
const ownInstances = new Set<string>();

/**
 * Whether a row names a running instance. On this host the pid tells, and for our own pid whether
 * this process still runs that instance.
 */
function running(other: InstanceRecord, host: string): boolean {
  if (other.host !== host) return true;
  if (other.pid === process.pid) return ownInstances.has(other.id);
  try {
    process.kill(other.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function conflict(self: Pick<InstanceRecord, 'limits'>, others: readonly InstanceRecord[]): string {
  const names = describeInstances(others, (o) => `limits in ${o.limits}`);
  return (
    `another Keyward instance is using this store (${names}) and rate limits would be kept per instance ` +
    `(this one: ${self.limits}), so every limit would be multiplied by the number of instances. ` +
    'Set storage.redis.url on every instance so they share their limits (rateLimits.backend then defaults to redis), ' +
    'or set rateLimits.perInstance: true to accept per-instance limits'
  );
}

/** The instances serving from this store now: beating, and (on this host) a running process. */
export async function liveInstances(store: Pick<InstanceStore, 'live'>): Promise<InstanceRecord[]> {
  const host = hostname();
  return (await store.live(LIVE_MS)).filter((other) => running(other, host));
}

/** One line naming instances for a person: pid, host, `detail` if given, and how long ago each was seen. */
export function describeInstances(
  instances: readonly InstanceRecord[],
  detail?: (instance: InstanceRecord) => string,
): string {
  const now = Date.now();
  return instances
    .map(
      (o) =>
        `pid ${o.pid} on ${o.host}, ${detail ? `${detail(o)}, ` : ''}seen ${Math.max(0, Math.round((now - o.seenAt) / 1000))} s ago`,
    )
    .join('; ');
}

/** Why this instance may not serve beside `others`, or undefined when it may. */
function refusal(
  self: Pick<InstanceRecord, 'limits'>,
  others: readonly InstanceRecord[],
  perInstance: boolean,
): string | undefined {
  const multiplied = self.limits === 'memory' || others.some((other) => other.limits === 'memory');
  return others.length > 0 && multiplied && !perInstance ? conflict(self, others) : undefined;
}

/**
 * Throws the PerInstanceLimitsError announceInstance would, without joining: asked of a store not
 * yet migrated (it writes nothing), so that a start refused leaves the store as an older Keyward
 * beside it reads it. The join asks again, for an instance started in between.
 */
export async function refusePerInstanceLimits(
  store: Pick<InstanceStore, 'live'>,
  options: Pick<InstanceOptions, 'limits' | 'perInstance'>,
): Promise<void> {
  const refused = refusal({ limits: options.limits }, await liveInstances(store), options.perInstance);
  if (refused) throw new PerInstanceLimitsError(refused);
}

/**
 * Announces this instance in the store and keeps announcing it. Throws PerInstanceLimitsError,
 * having withdrawn the announcement, when another live instance shares the store and either keeps
 * its limits in memory, unless the configuration accepts per-instance limits.
 */
export async function announceInstance(store: InstanceStore, options: InstanceOptions): Promise<Announced> {
  const now = Date.now();
  const self: InstanceRecord = {
    id: randomUUID(),
    host: hostname(),
    pid: process.pid,
    limits: options.limits,
    startedAt: now,
    seenAt: now,
    masterKeyId: options.masterKeyId(),
  };
  const others = (await store.join(self, LIVE_MS)).filter((other) => running(other, self.host));
  const refused = refusal(self, others, options.perInstance);
  if (refused) {
    await store.leave(self.id);
    throw new PerInstanceLimitsError(refused);
  }
  ownInstances.add(self.id);
  let left = false;
  const beat = (): void => {
    if (!left) store.beat(self.id, options.masterKeyId()).catch(options.onError);
  };
  const heartbeat = setInterval(beat, HEARTBEAT_MS);
  heartbeat.unref();
  return {
    beat,
    async close() {
      // A gateway may be closed twice (a test's own close, then its cleanup): leave once.
      if (left) return;
      left = true;
      clearInterval(heartbeat);
      // Before the row goes: one this store fails to remove is a former life from now on.
      ownInstances.delete(self.id);
      await store.leave(self.id);
    },
  };
}
