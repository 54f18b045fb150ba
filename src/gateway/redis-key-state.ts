import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { ProviderRuntime } from '../forward/provider-runtime.js';
import type { KeyState } from '../keys/index.js';
import type { Logger } from '../observability/index.js';

const CHANNEL = 'keyward:key-state';
const STATE_PREFIX = 'keyward:key-state:';
/** Longest a message from Redis can keep a key out, whatever it says: a provider's Retry-After cap. */
const MAX_OUT_MS = 3_600_000;
const RECONNECT_MAX_MS = 1_000;
/** At most one "cannot share key states" line per this, however long Redis stays away. */
const REPORT_EVERY_MS = 30_000;

interface KeyStateNote {
  from: string;
  provider: string;
  keyId: string;
  state: KeyState;
  until: number;
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
      Number.isFinite(note.until)
    ) {
      return note as KeyStateNote;
    }
  } catch {}
  return undefined;
}

/**
 * Instances on one Redis share their provider keys' health: a key one of them finds rate limited
 * (until its Retry-After) or benched as refused is avoided by all, and an instance that starts or
 * reconnects reads the states still in force. A change is published on a channel and kept under a
 * key that expires when the state ends. Key ids are the same on every instance with the same
 * configuration (`env:NAME#1`, stored `pk_…`), which is what lets a note name a key.
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
  const apply = (provider: string, keyId: string, state: KeyState, until: number): void => {
    const now = Date.now();
    providers.get(provider)?.keys.pool.apply(keyId, state, Math.min(until, now + MAX_OUT_MS), now);
  };

  for (const runtime of providers.values()) {
    runtime.keys.pool.onChange = (keyId, state, until) => {
      const note: KeyStateNote = { from: self, provider: runtime.id, keyId, state, until };
      const key = `${STATE_PREFIX}${runtime.id}:${keyId}`;
      const ttl = Math.min(until - Date.now(), MAX_OUT_MS);
      const batch = publisher.multi();
      if (state === 'active' || ttl <= 0) batch.del(key);
      else batch.set(key, JSON.stringify(note), 'PX', Math.ceil(ttl));
      batch.publish(CHANNEL, JSON.stringify(note));
      batch.exec().catch(report);
    };
  }

  subscriber.on('message', (_channel: string, text: string) => {
    const note = parseNote(text);
    if (note && note.from !== self) apply(note.provider, note.keyId, note.state, note.until);
  });
  // On the first connection and after every reconnection: what was said while this one was away.
  subscriber.on('ready', () => {
    void loadStates().catch(report);
  });
  const loadStates = async (): Promise<void> => {
    const names = [...providers.values()].flatMap((runtime) =>
      runtime.keys.pool.list().map((key) => `${STATE_PREFIX}${runtime.id}:${key.id}`),
    );
    if (names.length === 0) return;
    const values = await publisher.mget(...names);
    for (const text of values) {
      const note = text === null ? undefined : parseNote(text);
      if (note) apply(note.provider, note.keyId, note.state, note.until);
    }
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
