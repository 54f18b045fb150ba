import type { SecretString } from '../secret-string.js';

/** One provider key as a source hands it over. */
export interface SourcedKey {
  /**
   * Stable id of the key within its provider: the store's record id, or an id derived from where
   * the key came from (`env:OPENAI_API_KEY#2`). Pool state (cool-down, invalid) follows the id
   * across refreshes, so a refresh that returns the same key keeps its state.
   */
  id: string;
  secret: SecretString;
  /** When the key was created or last rotated (epoch ms), if the source knows: drives age alerts. */
  createdAt?: number;
  /** Relative share of traffic among healthy keys (default 1). */
  weight?: number;
  /** Epoch ms from which the key is not used, when its source sets an expiry (Azure's `exp`). */
  expiresAt?: number;
}

/**
 * A place provider keys are loaded from. One instance serves one provider. `load()` is called at
 * start, every `refreshMs` when set, and on demand (admin API, SIGHUP); when it throws, the keys
 * loaded last stay in use, so a source should throw rather than return a partial list.
 */
export interface KeySource {
  /** The config block's name: `env`, `values`, `store`, `vault`, `aws`, `azure`, `keyring`, `passthrough`. */
  readonly kind: string;
  /** Where keys come from, for logs and errors: names a location, never a value. */
  readonly describe: string;
  /** Milliseconds between refreshes; undefined when the source never changes on its own. */
  readonly refreshMs?: number;
  /** How long one load may take (`timeoutSeconds`); the caller's default when undefined. */
  readonly timeoutMs?: number;
  /** `signal` aborts the read under way: a load past its deadline must not hold a connection. */
  load(signal?: AbortSignal): Promise<SourcedKey[]>;
  close?(): Promise<void>;
}
