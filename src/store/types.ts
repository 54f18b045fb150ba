/**
 * The persistence interface. Every method is async so that a networked implementation
 * (Postgres) fits behind it without touching callers; the embedded SQLite one answers at once.
 */

export type ProviderKeyStatus = 'active' | 'disabled';

/** A provider key at rest: only its ciphertext (`kw1:…`, bound to provider + id) and fingerprint. */
export interface ProviderKeyRecord {
  id: string;
  provider: string;
  ciphertext: string;
  fingerprint: string;
  status: ProviderKeyStatus;
  weight: number;
  /** Epoch ms. */
  createdAt: number;
  updatedAt: number;
}

export interface ProviderKeyStore {
  list(provider?: string): Promise<ProviderKeyRecord[]>;
  get(id: string): Promise<ProviderKeyRecord | undefined>;
  insert(record: ProviderKeyRecord): Promise<void>;
  setStatus(id: string, status: ProviderKeyStatus, now: number): Promise<boolean>;
  remove(id: string): Promise<boolean>;
  /** Replaces ciphertexts in one transaction (master key rotation): all or nothing. */
  rewrap(ciphertexts: ReadonlyMap<string, string>, now: number): Promise<void>;
}

/** Small named values the gateway keeps for itself (the passphrase salt, …). */
export interface MetaStore {
  get(name: string): Promise<string | undefined>;
  set(name: string, value: string): Promise<void>;
  /** Sets `name` only when it has no value yet; returns the value that is stored afterwards. */
  setIfAbsent(name: string, value: string): Promise<string>;
}

export interface Store {
  readonly kind: 'sqlite';
  readonly providerKeys: ProviderKeyStore;
  readonly meta: MetaStore;
  /**
   * A number that changes whenever another process (a CLI command, another instance) commits to
   * the store; polled to pick up changes made elsewhere without a restart.
   */
  changeMarker(): Promise<number>;
  close(): Promise<void>;
}
