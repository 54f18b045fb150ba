import { within } from '../errors/deadline.js';
import { type Acquired, KeyPool, type PooledKey } from './key-pool.js';
import type { SecretString } from './secret-string.js';
import { KeySourceError } from './sources/errors.js';
import type { KeySource, SourcedKey } from './sources/index.js';
import { PASSTHROUGH_KIND } from './sources/passthrough.js';

const DAY_MS = 86_400_000;
/** The deadline of a load from a source that sets none of its own (`timeoutSeconds`). */
const LOAD_TIMEOUT_MS = 15_000;
/** setTimeout's longest delay; a key expiring later is looked at again by a later refresh. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The source's keys, or a KeySourceError once its deadline passes: the read under way is aborted
 * then. Without one a secret manager that took the connection and never answered held the start
 * (no listener, no log line) and, in a refresh, every later refresh, which share the one under way.
 */
async function loadWithin(source: KeySource): Promise<SourcedKey[]> {
  const ms = source.timeoutMs ?? LOAD_TIMEOUT_MS;
  const controller = new AbortController();
  // Raced as well as aborted: a source that does not heed the signal cannot hold the caller.
  return within(source.load(controller.signal), ms, () => {
    const error = new KeySourceError(`${source.describe} did not answer within ${ms / 1000} s`);
    controller.abort(error);
    return error;
  });
}

/** What the keys of a provider report to the rest of the gateway; no method ever gets a value. */
export interface KeyEvents {
  /** Every loaded value, so the redactor masks it from now on. */
  loaded(provider: string, secrets: readonly SecretString[]): void;
  /** `kept`: keys loaded before stay in use; false when none ever loaded (the provider answers 503). */
  refreshFailed(provider: string, source: string, message: string, kept: boolean): void;
  /** An operator should act: a key rejected by the provider, or one past its rotation age. */
  alert(provider: string, reason: 'key_rejected' | 'key_too_old', keyId: string, message: string): void;
  warn(provider: string, message: string): void;
}

export interface ProviderKeysOptions {
  provider: string;
  /** Undefined without a `keys` block (a server that takes no key). */
  source: KeySource | undefined;
  rotationDays: number;
  events: KeyEvents;
}

/**
 * The keys of one provider over time: loads them from the source, refreshes them on the source's
 * interval or on demand, and hands them out through the pool. A failed refresh keeps the keys
 * loaded last.
 */
export class ProviderKeys {
  readonly provider: string;
  readonly pool = new KeyPool();
  private source: KeySource | undefined;
  private readonly rotationMs: number;
  private readonly events: KeyEvents;
  private timer: NodeJS.Timeout | undefined;
  /** A refresh at the first expiry of a key in the pool (`expiresAt`). */
  private expiryTimer: NodeJS.Timeout | undefined;
  /** The refresh under way, of the source it loads: one of a source since replaced is not shared. */
  private running: { source: KeySource; done: Promise<boolean> } | undefined;
  private closed = false;
  private readonly agedWarned = new Set<string>();
  /** Epoch ms of the last successful load; 0 before the first. */
  loadedAt = 0;
  lastError: string | undefined;

  constructor(options: ProviderKeysOptions) {
    this.provider = options.provider;
    this.source = options.source;
    this.rotationMs = options.rotationDays * DAY_MS;
    this.events = options.events;
  }

  /**
   * The client brings the key (`keys: { passthrough: true }`). Only then is a client's
   * `x-provider-api-key` sent: a provider with no `keys` block is sent no key at all, or a route
   * falling back to it would hand it the key a client made for another provider.
   */
  get passthrough(): boolean {
    return this.source?.kind === PASSTHROUGH_KIND;
  }

  /** The provider takes the gateway's keys: a request needs one of them, or is not sent. */
  get pooled(): boolean {
    return this.source !== undefined && !this.passthrough;
  }

  /** The `keys` block's kind, or `none` for a provider without one. */
  get sourceKind(): string {
    return this.source?.kind ?? 'none';
  }

  acquire(now?: number, model?: string): Acquired {
    return this.pool.acquire(now, model);
  }

  /** Loads the keys now. Concurrent calls share one load. Resolves false when it failed. */
  refresh(): Promise<boolean> {
    const { source } = this;
    if (this.closed) return Promise.resolve(false);
    if (!source || !this.pooled) return Promise.resolve(true);
    if (this.running?.source !== source) {
      const done: Promise<boolean> = this.load(source).finally(() => {
        if (this.running?.done === done) this.running = undefined;
      });
      this.running = { source, done };
    }
    return this.running.done;
  }

  /**
   * The first load: its failure is the caller's to report (a config error at start), and is the
   * provider's `lastError` until a load succeeds.
   */
  async loadOrThrow(): Promise<void> {
    if (!this.source || !this.pooled) return;
    let keys: SourcedKey[];
    try {
      keys = await loadWithin(this.source);
    } catch (error) {
      this.lastError = error instanceof Error ? error.message : 'unknown error';
      throw error;
    }
    this.accept(keys);
  }

  /** Refreshes on the source's own interval, if it has one. */
  start(): void {
    const every = this.source?.refreshMs;
    if (!every || this.timer) return;
    this.timer = setInterval(() => void this.refresh(), every);
    this.timer.unref();
  }

  /**
   * A changed `keys` block (SIGHUP). The new source is loaded before it replaces the one in use: a
   * source that cannot load (a variable's name mistyped) leaves the keys and their source as they
   * were, and resolves false. Swapped first, the provider went on with keys that neither the new
   * source nor the old one could revoke any more.
   */
  async replaceSource(source: KeySource | undefined): Promise<boolean> {
    let keys: Parameters<KeyPool['replace']>[0] = [];
    if (source) {
      try {
        keys = await loadWithin(source);
      } catch (error) {
        this.events.refreshFailed(
          this.provider,
          source.kind,
          error instanceof Error ? error.message : 'unknown error',
          this.pool.size > 0,
        );
        await source.close?.();
        return false;
      }
    }
    // Closed while the new source loaded (a stop during the reload): nothing would close it later.
    if (this.closed) {
      await source?.close?.();
      return false;
    }
    this.stop();
    const old = this.source;
    this.source = source;
    if (this.pooled) this.accept(keys);
    else this.pool.replace([]);
    this.start();
    // Closed once replaced: a refresh of it still under way then fails or ends (the close waits for
    // what it sent) without its result being the provider's (load()); closed first, its failure
    // became the provider's lastError and log line.
    await old?.close?.();
    return true;
  }

  /** Stops the refreshes and closes the source, then waits for a refresh still under way. */
  async close(): Promise<void> {
    this.closed = true;
    this.stop();
    await this.source?.close?.();
    await this.running?.done;
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
  }

  /**
   * Refreshes when the first key in the pool expires. The pool stops handing it out at that
   * instant; the load tells whether the source withdraws it (the keys go, and the log line and
   * lastError say why) or holds a new value, which otherwise waited for the next refresh, up to
   * refreshSeconds away.
   */
  private refreshAtExpiry(): void {
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    const now = Date.now();
    const first = Math.min(
      ...this.pool
        .list()
        .map((key) => (key.expiresAt !== undefined && key.expiresAt > now ? key.expiresAt : Infinity)),
    );
    if (first - now > MAX_TIMER_MS) return;
    this.expiryTimer = setTimeout(() => void this.refresh(), first - now);
    this.expiryTimer.unref();
  }

  /**
   * One refresh of `source`. Once it was replaced (SIGHUP) or closed, whatever the load brings is
   * not this provider's: a late read of the old source wrote its keys over the new one's.
   * Replaced, the caller's refresh is of the source now in place.
   */
  private async load(source: KeySource): Promise<boolean> {
    const superseded = () => this.closed || source !== this.source;
    try {
      const keys = await loadWithin(source);
      if (superseded()) return this.refresh();
      this.accept(keys);
      return true;
    } catch (error) {
      if (superseded()) return this.refresh();
      this.lastError = error instanceof Error ? error.message : 'unknown error';
      // Kept, a key its source says is not to be used (past its expiry) served on until a later
      // load succeeded, which for an expired secret nothing but the operator brings.
      if (error instanceof KeySourceError && error.withdrawn) this.pool.replace([]);
      this.events.refreshFailed(this.provider, source.kind, this.lastError, this.pool.size > 0);
      return false;
    }
  }

  private accept(keys: Parameters<KeyPool['replace']>[0]): void {
    this.events.loaded(
      this.provider,
      keys.map((key) => key.secret),
    );
    this.pool.replace(keys);
    this.loadedAt = Date.now();
    this.lastError = undefined;
    this.checkAges(this.pool.list());
    this.refreshAtExpiry();
  }

  private checkAges(keys: readonly PooledKey[]): void {
    const now = Date.now();
    for (const key of keys) {
      if (key.createdAt === undefined || now - key.createdAt < this.rotationMs) continue;
      if (this.agedWarned.has(key.id)) continue;
      this.agedWarned.add(key.id);
      const days = Math.floor((now - key.createdAt) / DAY_MS);
      this.events.alert(
        this.provider,
        'key_too_old',
        key.id,
        `provider key ${key.id} (${key.secret.fingerprint}) is ${days} days old; rotate it with 'keyward keys rotate --provider ${this.provider}'`,
      );
    }
  }
}
