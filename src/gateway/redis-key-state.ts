import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { ProviderRuntime } from '../forward/provider-runtime.js';
import { type KeyState, MAX_QUOTA_DAY_MS } from '../keys/index.js';
import type { Logger } from '../observability/index.js';

const CHANNEL = 'keyward:key-state';
const STATE_PREFIX = 'keyward:key-state:';
/** A key's cool-downs for single models; a prefix of its own, so no key id can name a set. */
const MODELS_PREFIX = 'keyward:key-model-state:';
/** Longest a message from Redis can keep a key out, whatever it says: a provider's Retry-After cap. */
const MAX_OUT_MS = 3_600_000;
/** The same for one model, which a spent per-day quota keeps a key out for until it resets. */
const maxOutMs = (model: string | undefined): number => (model === undefined ? MAX_OUT_MS : MAX_QUOTA_DAY_MS);
const RECONNECT_MAX_MS = 1_000;
/** At most one "cannot share key states" line per this, however long Redis stays away. */
const REPORT_EVERY_MS = 30_000;

interface KeyStateNote {
  from: string;
  provider: string;
  keyId: string;
  state: KeyState;
  until: number;
  /** Set when the state is the key's for this model alone. */
  model?: string;
  /**
   * The fingerprint of the key's value (`SecretString.fingerprint`): key ids are positional, so a
   * note applies only to the value it was about. Absent from notes of versions before it.
   */
  fingerprint?: string;
}

const STATES = new Set<KeyState>(['active', 'cooling', 'invalid']);

function parseNote(text: string): KeyStateNote | undefined {
  try {
    const note = JSON.parse(text) as Partial<KeyStateNote>;
    if (
      typeof note.from === 'string' &&
      typeof note.provider === 'string' &&
      typeof note.keyId === 'string' &&
      STATES.has(note.state as KeyState) &&
      typeof note.until === 'number' &&
      Number.isFinite(note.until) &&
      (note.model === undefined || typeof note.model === 'string') &&
      (note.fingerprint === undefined || typeof note.fingerprint === 'string')
    ) {
      return note as KeyStateNote;
    }
  } catch {}
  return undefined;
}

/**
 * A member of a key's sorted set of cool-downs for single models: the key's fingerprint and the
 * model, so that a cool-down read back applies to the value it was about. A member without the
 * separator was written by a version before it: the model alone, for any value.
 */
const SEPARATOR = '\u0000';
const modelMember = (fingerprint: string, model: string): string => `${fingerprint}${SEPARATOR}${model}`;
function parseMember(member: string): { fingerprint?: string; model: string } {
  const at = member.indexOf(SEPARATOR);
  return at < 0 ? { model: member } : { fingerprint: member.slice(0, at), model: member.slice(at + 1) };
}

/**
 * Instances on one Redis share their provider keys' health: a key one of them finds rate limited
 * (until its Retry-After) or benched as refused is avoided by all, and an instance that starts or
 * reconnects reads the states still in force. A change is published on a channel and kept under a
 * key that expires when the state ends; a key's cool-downs for single models are kept in a sorted
 * set of its own, each model scored by its end. Key ids are the same on every instance with the same
 * configuration (`env:NAME#1`, stored `pk_…`), which is what lets a note name a key; but they are
 * positional, and during a rotation instances hold different values under one id for a while, so
 * every note also carries the value's fingerprint and applies only to that value.
 */
export function shareKeyStatesOverRedis(
  providers: ReadonlyMap<string, ProviderRuntime>,
  url: string,
  logger: Logger,
): { close(): Promise<void> } {
  const self = randomBytes(6).toString('base64url');
  const options = {
    connectTimeout: 500,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, RECONNECT_MAX_MS),
  };
  const publisher = new Redis(url, options);
  const subscriber = new Redis(url, options);
  let reportedAt = Number.NEGATIVE_INFINITY;
  const report = (error: Error): void => {
    if (Date.now() - reportedAt < REPORT_EVERY_MS) return;
    reportedAt = Date.now();
    logger.warn(
      { err: error },
      'cannot share provider key states through Redis; each instance keeps its own',
    );
  };
  publisher.on('error', report);
  subscriber.on('error', report);

  /** A state from elsewhere, never keeping a key out longer than a provider could ask. */
  const apply = (note: Omit<KeyStateNote, 'from'>): void => {
    const now = Date.now();
    const until = Math.min(note.until, now + maxOutMs(note.model));
    providers
      .get(note.provider)
      ?.keys.pool.apply(note.keyId, note.state, until, now, note.model, note.fingerprint);
  };

  for (const runtime of providers.values()) {
    runtime.keys.pool.onChange = (change) => {
      const { keyId, state, until, model, fingerprint } = change;
      const note: KeyStateNote = { from: self, provider: runtime.id, ...change };
      const key = `${STATE_PREFIX}${runtime.id}:${keyId}`;
      const now = Date.now();
      const ttl = Math.min(until - now, maxOutMs(model));
      const batch = publisher.multi();
      if (model !== undefined) {
        const models = `${MODELS_PREFIX}${runtime.id}:${keyId}`;
        batch.zremrangebyscore(models, '-inf', now);
        // The member a version before fingerprints wrote for the model goes too.
        if (state === 'active' || ttl <= 0) batch.zrem(models, modelMember(fingerprint, model), model);
        else
          batch
            .zadd(models, 'GT', now + ttl, modelMember(fingerprint, model))
            .pexpire(models, MAX_QUOTA_DAY_MS);
      } else if (state === 'active' || ttl <= 0) batch.del(key);
      else batch.set(key, JSON.stringify(note), 'PX', Math.ceil(ttl));
      batch.publish(CHANNEL, JSON.stringify(note));
      batch.exec().catch(report);
    };
  }

  subscriber.on('message', (_channel: string, text: string) => {
    const note = parseNote(text);
    if (note && note.from !== self) apply(note);
  });
  // On the first connection and after every reconnection: what was said while this one was away.
  subscriber.on('ready', () => {
    void loadStates().catch(report);
  });
  const loadStates = async (): Promise<void> => {
    const keys = [...providers.values()].flatMap((runtime) =>
      runtime.keys.pool.list().map((key) => ({ provider: runtime.id, keyId: key.id })),
    );
    if (keys.length === 0) return;
    const values = await publisher.mget(
      ...keys.map(({ provider, keyId }) => `${STATE_PREFIX}${provider}:${keyId}`),
    );
    for (const text of values) {
      const note = text === null ? undefined : parseNote(text);
      if (note) apply(note);
    }
    const now = Date.now();
    const batch = publisher.pipeline();
    for (const { provider, keyId } of keys) {
      batch.zrangebyscore(`${MODELS_PREFIX}${provider}:${keyId}`, now, '+inf', 'WITHSCORES');
    }
    const cooling = (await batch.exec()) ?? [];
    cooling.forEach(([error, pairs], index) => {
      if (error || !Array.isArray(pairs)) return;
      const { provider, keyId } = keys[index]!;
      for (let i = 0; i + 1 < pairs.length; i += 2) {
        const until = Number(pairs[i + 1]);
        if (Number.isFinite(until))
          apply({ provider, keyId, state: 'cooling', until, ...parseMember(String(pairs[i])) });
      }
    });
  };
  subscriber.subscribe(CHANNEL).catch(report);

  return {
    async close() {
      for (const runtime of providers.values()) runtime.keys.pool.onChange = undefined;
      subscriber.disconnect();
      publisher.disconnect();
    },
  };
}
