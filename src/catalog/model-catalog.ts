import type { Dispatcher } from 'undici';
import type { ProviderConfig } from '../config/index.js';
import type { Acquired } from '../keys/index.js';
import { modelListCall } from './provider-models.js';

/** What the catalog needs of a provider: its settings, its connection pool and its keys. */
export interface CatalogProvider {
  id: string;
  config: ProviderConfig;
  dispatcher: Dispatcher;
  keys: { acquire(): Acquired };
}

export interface ModelCatalogOptions {
  /** How long a provider's list is served from memory. */
  ttlMs?: number;
  /** How long a failed read waits before the next try (the last good list is served meanwhile). */
  retryMs?: number;
  /** The most one read may take; a model list must not hold up `GET /v1/models` for long. */
  timeoutMs?: number;
  onError?(provider: string, reason: string): void;
}

interface Entry {
  models: readonly string[];
  freshUntil: number;
  pending?: Promise<readonly string[]>;
}

const DEFAULTS = { ttlMs: 10 * 60_000, retryMs: 30_000, timeoutMs: 5_000 };
/** A model list larger than this is not a model list. */
const MAX_BYTES = 4 * 1024 * 1024;

/**
 * The models each provider offers, read from the provider's own list with the gateway's key and
 * cached. A failure is never fatal: the provider shows the models it showed last (or none), and
 * the reason goes to the log, not to the client. Passthrough providers hold no key to ask with.
 */
export class ModelCatalog {
  private readonly entries = new Map<string, Entry>();
  private readonly options: Required<Omit<ModelCatalogOptions, 'onError'>> & ModelCatalogOptions;

  constructor(options: ModelCatalogOptions = {}) {
    this.options = { ...DEFAULTS, ...options };
  }

  models(provider: CatalogProvider, now = Date.now()): Promise<readonly string[]> {
    const entry = this.entries.get(provider.id);
    if (entry && (entry.freshUntil > now || entry.pending))
      return entry.pending ?? Promise.resolve(entry.models);
    const next: Entry = { models: entry?.models ?? [], freshUntil: 0 };
    next.pending = this.read(provider).then(
      (models) => {
        this.entries.set(provider.id, { models, freshUntil: Date.now() + this.options.ttlMs });
        return models;
      },
      (error: unknown) => {
        this.options.onError?.(provider.id, (error as Error).message);
        this.entries.set(provider.id, { models: next.models, freshUntil: Date.now() + this.options.retryMs });
        return next.models;
      },
    );
    this.entries.set(provider.id, next);
    return next.pending;
  }

  private async read(provider: CatalogProvider): Promise<readonly string[]> {
    const { config } = provider;
    if (config.type === 'azure-openai') return Object.keys(config.deployments ?? {});
    // Each client brings its own key to a passthrough provider; the gateway holds none to ask with.
    if (config.keys && 'passthrough' in config.keys) return [];
    const key = config.keys ? provider.keys.acquire().key?.secret : undefined;
    const call = modelListCall(config, key);
    if (!call) return [];
    const { statusCode, headers, body } = await provider.dispatcher.request({
      method: 'GET',
      path: call.path,
      headers: call.headers,
      signal: AbortSignal.timeout(this.options.timeoutMs),
    });
    if (statusCode !== 200) {
      await body.dump();
      throw new Error(`the provider answered ${statusCode} to its model list`);
    }
    const length = Number(headers['content-length'] ?? 0);
    if (length > MAX_BYTES) {
      await body.dump();
      throw new Error('the model list is too large');
    }
    const models = call.read(await body.json());
    return [...new Set(models)].sort();
  }
}
