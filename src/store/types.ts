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
  /**
   * Stores `record` unless its provider already has a key with its fingerprint, which it answers
   * then, storing nothing. The look and the write are one step: two instances adding one value at
   * once store it once.
   */
  insert(record: ProviderKeyRecord): Promise<ProviderKeyRecord | undefined>;
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
  /** Removes `name` only while it still holds `value`; says whether it did. */
  deleteIf(name: string, value: string): Promise<boolean>;
}

export type Scope = 'models:read' | 'chat' | 'embeddings' | 'templates' | 'admin' | 'sessions';
export type BudgetPeriod = 'day' | 'month' | 'total';

/** A gateway token at rest: the keyed HMAC of its secret, never the token. */
export interface TokenRecord {
  id: string;
  /** hex HMAC-SHA256(pepper, secret). */
  secretHash: string;
  name: string;
  clientId: string | null;
  userId: string | null;
  scopes: Scope[];
  /** Allowed model names (aliases or provider/model); null = any. */
  models: string[] | null;
  /** Allowed provider ids; null = any. */
  providers: string[] | null;
  /** Templates the token may list and run (with the `templates` scope); null = any. */
  templates: string[] | null;
  /** Largest max_tokens / max_completion_tokens a request may ask for; null = no cap. */
  maxTokens: number | null;
  /** CIDRs the token may be used from; null = anywhere. */
  ipAllowlist: string[] | null;
  /** Epoch ms; null = never. */
  expiresAt: number | null;
  limits: { rpm?: number; tpm?: number; concurrency?: number };
  budget: { usd: number; period: BudgetPeriod } | null;
  metadata: Record<string, string>;
  /** The token that minted this one, or null for the admin key / CLI. */
  createdBy: string | null;
  createdAt: number;
  revokedAt: number | null;
}

export interface TokenStore {
  insert(record: TokenRecord): Promise<void>;
  get(id: string): Promise<TokenRecord | undefined>;
  /** Oldest first; with `under`, only that token and the tokens minted under it. */
  list(options?: { includeRevoked?: boolean; under?: string }): Promise<TokenRecord[]>;
  /**
   * Sets revokedAt once, on the token and on every live token minted under it (a minted token
   * lasts no longer than its creator), drops the login codes they minted and no one redeemed, and
   * revokes the browser sessions those codes signed in (reason `token_revoked`); false when the
   * token is unknown or already revoked.
   */
  revoke(id: string, at: number): Promise<boolean>;
  /** Ids revoked at or after `since` (epoch ms): lets other instances drop cached tokens. */
  revokedSince(since: number): Promise<string[]>;
}

/** Usage of one request, added to its (day, token, user, model, provider) aggregate. */
export interface UsageDelta {
  /** UTC day, YYYY-MM-DD. */
  day: string;
  tokenId: string | null;
  userId: string | null;
  /**
   * For a browser session's usage (token `ses_<id>`), the token that signed it in: that token's
   * spend, and its creators', counts it (`spent`) after the session is pruned.
   */
  sessionCreator?: string;
  model: string;
  provider: string;
  /** The template the request ran, if any: its usage is also summed per template. */
  template?: string;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  /** Cost in millionths of a US dollar (integers add up exactly). */
  costMicros: number;
}

export type UsageGrouping = 'token' | 'user' | 'model' | 'day' | 'template';

export interface UsageRow {
  group: string;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  costMicros: number;
}

export interface UsageStore {
  /** Adds every delta in one transaction. */
  add(deltas: readonly UsageDelta[]): Promise<void>;
  query(
    by: UsageGrouping,
    filter?: { from?: string; to?: string; tokenId?: string; userId?: string },
  ): Promise<UsageRow[]>;
  /**
   * Cost spent from `fromDay` through `toDay` (both inclusive; undefined = no bound) by a user, or
   * by a token, every token minted under it and every browser session one of them signed in (its
   * budget holds for them too), in micro-dollars.
   */
  spent(who: { tokenId: string } | { userId: string }, fromDay?: string, toDay?: string): Promise<number>;
}

/** One audit record as stored: `mac` chains it to the record before it. */
export interface AuditRecord {
  seq: number;
  /** Epoch ms. */
  at: number;
  type: string;
  /** Who acted: a token id, `admin`, `cli`, `system`, or a client IP for failed authentication. */
  actor: string;
  /** Event fields; never a secret, never prompt text. */
  data: Record<string, unknown>;
  /** The previous record's mac, or 64 zeros for the first. */
  prevMac: string;
  mac: string;
}

/** An audit event before it is chained. */
export interface AuditEntry {
  at: number;
  type: string;
  actor: string;
  data: Record<string, unknown>;
}

export interface AuditStore {
  /**
   * Appends entries to the chain in one transaction that holds the write lock, so that several
   * processes sharing the store extend one chain: `seal` computes each record's mac from the
   * record (with its seq and prevMac already set) inside that transaction.
   */
  appendChained(
    entries: readonly AuditEntry[],
    seal: (record: Omit<AuditRecord, 'mac'>) => string,
  ): Promise<AuditRecord[]>;
  /** Records in seq order, after `afterSeq`, at most `limit`, optionally of one type or actor. */
  /** Oldest first; `since` and `until` (epoch ms, `until` exclusive) bound the records' times. */
  list(filter?: {
    afterSeq?: number;
    limit?: number;
    type?: string;
    actor?: string;
    since?: number;
    until?: number;
  }): Promise<AuditRecord[]>;
  last(): Promise<AuditRecord | undefined>;
}

/** A running gateway process, as it announced itself in the store. */
export interface InstanceRecord {
  id: string;
  host: string;
  pid: number;
  /** Where its rate limits live: its own memory, or Redis shared with the others. */
  limits: 'memory' | 'redis';
  startedAt: number;
  seenAt: number;
  /** The id of the master key it seals with; undefined when unknown (started by an older Keyward). */
  masterKeyId?: string | undefined;
}

export interface InstanceStore {
  /**
   * Adds this instance and returns the others that beat within the last `liveMs`, in one
   * transaction: of two instances starting at once, exactly one sees the other. The store's clock
   * stamps every beat (`self.seenAt` included) and judges them, so that instances on hosts whose
   * clocks disagree still see each other.
   */
  join(self: InstanceRecord, liveMs: number): Promise<InstanceRecord[]>;
  /** The instances that beat within the last `liveMs`, by the store's clock, without joining. */
  live(liveMs: number): Promise<InstanceRecord[]>;
  /** Marks the instance seen now, by the store's clock, sealing with `masterKeyId`. */
  beat(id: string, masterKeyId: string | undefined): Promise<void>;
  leave(id: string): Promise<void>;
}

/**
 * A store as it was found, before a pending migration is applied: read only, so that a start
 * refused here leaves the store as it was (an older Keyward still serves from it).
 */
export interface UnmigratedStore {
  /** The version found and the one the migration would bring it to. */
  schema: { version: number; latest: number };
  /** The instances recorded as live (none where the schema predates the table). */
  instances: Pick<InstanceStore, 'live'>;
}

/** Asked before a migration is applied; what it throws refuses the store, migrated or not. */
export type BeforeMigrate = (found: UnmigratedStore) => Promise<void>;

/** What a browser session may do: fixed when its login code is minted, kept for its lifetime. */
export interface SessionGrant {
  userId: string | null;
  scopes: Scope[];
  models: string[] | null;
  /** Provider ids, inherited from the token that minted the code; null = any. */
  providers: string[] | null;
  maxTokens: number | null;
  /** Template names the session may run (by default the minting token's); null = any its scopes allow. */
  templates: string[] | null;
  limits: { rpm?: number; tpm?: number; concurrency?: number };
  budget: { usd: number; period: BudgetPeriod } | null;
  metadata: Record<string, string>;
  /** Absolute lifetime of the login (the refresh token's), ms. */
  lifetimeMs: number;
}

/** A one-time login code at rest: the keyed hash of the code, never the code. */
export interface LoginCodeRecord {
  hash: string;
  grant: SessionGrant;
  /** The token that minted it, or null for the admin key. */
  createdBy: string | null;
  expiresAt: number;
}

/** A browser session (one login, one refresh-token family) at rest: keyed hashes only. */
export interface SessionRecord {
  id: string;
  userId: string | null;
  guest: boolean;
  grant: SessionGrant;
  createdBy: string | null;
  createdAt: number;
  /** Absolute end of the login, epoch ms. */
  expiresAt: number;
  /** Last login or refresh: the idle lifetime counts from here. */
  refreshedAt: number;
  /** hex HMAC of the current session-cookie secret. */
  accessHash: string;
  accessExpiresAt: number;
  /** The current refresh-token generation. */
  generation: number;
  revokedAt: number | null;
  revokedReason: string | null;
}

export interface RefreshTokenRecord {
  sessionId: string;
  generation: number;
  hash: string;
  /** When a newer generation replaced it; null while current. */
  retiredAt: number | null;
}

/** The next session cookie and refresh token, replacing generation `from`. */
export interface SessionRotation {
  from: number;
  generation: number;
  refreshHash: string;
  accessHash: string;
  accessExpiresAt: number;
  at: number;
}

/**
 * A dashboard login. The store holds the SHA-256 of the id in its cookie, never the id: a copy of
 * the database opens no dashboard.
 */
export interface AdminSessionRecord {
  hash: string;
  /** Who logged in: an admin-scoped token's id, or `admin-key` and the admin key's fingerprint. */
  actor: string;
  createdAt: number;
  expiresAt: number;
}

/** Dashboard logins, shared by every worker and instance on the store. */
export interface AdminSessionStore {
  /**
   * Adds a login after dropping those over at `now`, the same actor's oldest beyond
   * `perActor - 1`, and of all logins but those of actors named `spared…`, the oldest beyond
   * `total - 1`: one actor's logins never crowd out another's, and however many actors there are,
   * the spared ones (the admin key's) stay.
   */
  create(
    session: AdminSessionRecord,
    limit: { now: number; perActor: number; total: number; spared: string },
  ): Promise<void>;
  /** The login with this hash, if it is not over at `now`. */
  get(hash: string, now: number): Promise<AdminSessionRecord | undefined>;
  remove(hash: string): Promise<void>;
  /** Ends every login of one actor. */
  removeFor(actor: string): Promise<void>;
}

export type JwtClaim = 'sub' | 'jti' | 'sid';

export interface JwtRevocation {
  claim: JwtClaim;
  value: string;
  /** '' = any issuer. */
  issuer: string;
  revokedAt: number;
}

export interface SessionStore {
  insertCode(record: LoginCodeRecord): Promise<void>;
  /** Removes the code and returns it when it was still valid at `now`: single use across instances. */
  takeCode(hash: string, now: number): Promise<LoginCodeRecord | undefined>;
  create(session: SessionRecord, refreshHash: string): Promise<void>;
  get(id: string): Promise<SessionRecord | undefined>;
  refreshToken(sessionId: string, generation: number): Promise<RefreshTokenRecord | undefined>;
  /**
   * Retires generation `rotation.from` and makes `rotation.generation` current, only if the
   * session is live and still at `from`; false when another rotation or a revocation came first.
   */
  rotate(sessionId: string, rotation: SessionRotation): Promise<boolean>;
  /**
   * Oldest first (by creation, then id); with `after`, those after that place, and at most
   * `limit` (a page of the admin listing).
   */
  list(filter?: {
    userId?: string;
    includeRevoked?: boolean;
    after?: { createdAt: number; id: string };
    limit?: number;
  }): Promise<SessionRecord[]>;
  /** Sets revokedAt once; false when unknown or already revoked. */
  revoke(id: string, at: number, reason: string): Promise<boolean>;
  /** Revokes every live session of a user and drops the login codes handed out for them; returns the sessions' ids. */
  revokeUser(userId: string, at: number, reason: string): Promise<string[]>;
  /** Revokes every live guest session; returns how many. */
  revokeGuests(at: number, reason: string): Promise<number>;
  /** Ids revoked at or after `since` (epoch ms). */
  revokedSince(since: number): Promise<string[]>;
  /** Drops login codes and sessions over before `before`. */
  /**
   * Removes login codes and sessions past their end (`before`), and sessions last refreshed before
   * `idleBefore`, which can never be refreshed again.
   */
  prune(before: number, idleBefore: number): Promise<void>;
  revokeJwt(revocation: JwtRevocation): Promise<void>;
  jwtRevocationsSince(since: number): Promise<JwtRevocation[]>;
}

/** One version of a stored prompt template; the definition is checked when it is loaded. */
export interface TemplateRecord {
  name: string;
  version: number;
  definition: Record<string, unknown>;
  /** `admin`, or the id of the token that saved it. */
  createdBy: string;
  createdAt: number;
  /** Set on every version when the template is deleted; a later save starts it again. */
  deletedAt: number | null;
}

export interface TemplateStore {
  /** The newest version of every template that is not deleted, by name. */
  latest(): Promise<TemplateRecord[]>;
  /** Every version of one template, oldest first, deleted ones included. */
  versions(name: string): Promise<TemplateRecord[]>;
  /** Saves the definition as the template's next version. */
  save(
    name: string,
    definition: Record<string, unknown>,
    createdBy: string,
    at: number,
  ): Promise<TemplateRecord>;
  /** Marks every version deleted; false when there was nothing live to delete. */
  remove(name: string, at: number): Promise<boolean>;
}

/**
 * A stored response (`resp_…`) or conversation (`conv_…`). `sealed` is its content (`kw1:…`, bound
 * to owner and id): the store never sees prompt or answer text.
 */
export interface ConversationRecord {
  id: string;
  kind: 'response' | 'conversation';
  /** `user:<id>`, `token:<id>` or `key:<fingerprint>`: who may read, continue or delete it. */
  owner: string;
  /** Epoch ms. */
  createdAt: number;
  sealed: string;
  /**
   * The response this response continues (`previous_response_id`). Absent on the first of a
   * chain, on conversations, and on responses stored before it was kept apart from `sealed`.
   */
  previousId?: string;
  /**
   * How many items a response has, and their bytes in all, kept beside them so that a chain's size
   * is known before any item is read. Absent on conversations and on responses stored before.
   */
  itemCount?: number;
  itemBytes?: number;
  /**
   * The conversation a response was made in (`conversation`): deleting the conversation deletes
   * it, and deleting one of the conversation's items deletes that item's copies in it. Absent on
   * conversations, on responses made outside one, and on responses stored before it was kept.
   * A response whose conversation is gone by the time it is written is not stored.
   */
  conversationId?: string;
}

/** A response of a `previous_response_id` chain, as `ConversationStore.chain` reads it. */
export interface ChainLink {
  id: string;
  previousId?: string;
  /** Its items' count and bytes, where its record keeps them (see `ConversationRecord`). */
  itemCount?: number;
  itemBytes?: number;
}

/** One item of a response (`input` or `output`) or of a conversation (`item`), in order of `seq`. */
export interface ConversationItemRecord {
  /** Assigned by the store, increasing. */
  seq: number;
  parentId: string;
  id: string;
  owner: string;
  part: 'input' | 'output' | 'item';
  createdAt: number;
  /** Length of the plaintext, for retention by size. */
  bytes: number;
  sealed: string;
}

export interface TurnHold {
  id: string;
  owner: string;
  holder: string;
  now: number;
  until: number;
}

export interface ConversationStore {
  /** Inserts or replaces a record (its items stay). */
  put(record: ConversationRecord): Promise<void>;
  /** Replaces a record's sealed text if the record still exists; false when it is gone. */
  update(id: string, sealed: string): Promise<boolean>;
  get(id: string): Promise<ConversationRecord | undefined>;
  /**
   * Removes a record and its items; a conversation's responses (`conversationId`) go with it, with
   * theirs. True when the record `id` was there.
   */
  remove(id: string): Promise<boolean>;
  /** Records of one owner, or all, oldest first. */
  list(filter?: { owner?: string; kind?: ConversationRecord['kind'] }): Promise<ConversationRecord[]>;
  /** How many records (responses and conversations) `owner` has, counted up to `upTo` at most. */
  countOwned(owner: string, upTo: number): Promise<number>;
  /** Puts records with their items (each record before its items), all in one transaction. */
  putAll(
    entries: ReadonlyArray<{
      record: ConversationRecord;
      items: ReadonlyArray<Omit<ConversationItemRecord, 'seq'>>;
    }>,
  ): Promise<void>;
  /**
   * Holds `owner`'s conversation `id` for one turn until `until` (epoch ms). True when it was free,
   * is `holder`'s already (a renewal), or its last hold ran out by `now`; false when another holds
   * it or it is no conversation of `owner`'s.
   */
  holdTurn(hold: TurnHold): Promise<boolean>;
  /** Ends `holder`'s hold on conversation `id`, if it still has it. */
  releaseTurn(id: string, holder: string): Promise<void>;
  /**
   * Appends the rows `rows` makes to `owner`'s conversation `parentId`, in order, in one transaction
   * that holds the conversation against other appends, in any process sharing the store: `rows` is
   * told which of `ids` the conversation holds already, so that it can give those items ids of their
   * own. With `endTurn`, that holder's turn hold ends in the same transaction. False, storing
   * nothing, when it is no conversation of `owner`'s (deleted meanwhile).
   */
  appendItems(
    append: { parentId: string; owner: string; ids: readonly string[]; endTurn?: string },
    rows: (taken: ReadonlySet<string>) => ReadonlyArray<Omit<ConversationItemRecord, 'seq'>>,
  ): Promise<boolean>;
  /**
   * `owner`'s response `id` and the ones it continues, newest first, at most `limit`: the chain
   * ends at a response that names no previous one, at one that is gone, and at another owner's.
   */
  chain(id: string, owner: string, limit: number): Promise<ChainLink[]>;
  /** How many items a record has, and their bytes in all. */
  itemTotals(parentId: string): Promise<{ count: number; bytes: number }>;
  /** The items of several records, by seq. */
  itemsOf(parentIds: readonly string[]): Promise<ConversationItemRecord[]>;
  /** A record's items by seq: after `afterSeq`, at most `limit`, in `order`. */
  items(
    parentId: string,
    options?: { afterSeq?: number; limit?: number; order?: 'asc' | 'desc' },
  ): Promise<ConversationItemRecord[]>;
  /** The first item with this id among a record's items. */
  item(where: { parentId: string; id: string }): Promise<ConversationItemRecord | undefined>;
  /** Which of `ids` name an item of `owner`'s record `parentId` already, in no order. */
  presentIds(parentId: string, owner: string, ids: readonly string[]): Promise<string[]>;
  /** The copies of conversation `conversationId`'s item `id` in the responses made in it. */
  copiesOf(conversationId: string, id: string): Promise<ConversationItemRecord[]>;
  /** For each of `ids`, the owner's newest item with that id (as `item` finds one), in no order. */
  ownerItems(owner: string, ids: readonly string[]): Promise<ConversationItemRecord[]>;
  /**
   * Removes a record's items with this id and, where the record is a conversation, their copies in
   * the responses made in it, in one transaction. True when the record had such an item.
   */
  removeItem(parentId: string, id: string): Promise<boolean>;
  /**
   * Removes a record's items older than `seq`; returns how many went. By position, not by count:
   * items appended meanwhile do not move the cut.
   */
  trimItemsBefore(parentId: string, seq: number): Promise<number>;
  /**
   * Removes every record created before `before` (epoch ms), with the responses made in the
   * conversations among them, or every record of `owner`; items go with their records.
   */
  purge(filter: { before: number } | { owner: string }): Promise<number>;
  /**
   * Replaces sealed texts (master key rotation), all in one transaction. A record's text is
   * replaced only if it is still `from`: one changed meanwhile keeps its change (a later sweep
   * re-seals it); items never change once written.
   */
  rewrap(
    records: ReadonlyMap<string, { from: string; to: string }>,
    items: ReadonlyMap<number, string>,
  ): Promise<void>;
}

export interface Store {
  /** `sqlite`: one embedded file; `postgres`: shared by several instances. */
  readonly kind: 'sqlite' | 'postgres';
  /** The schema version found when the store was opened, and the one it was migrated to. */
  readonly schema: { from: number; to: number };
  readonly instances: InstanceStore;
  readonly conversations: ConversationStore;
  readonly providerKeys: ProviderKeyStore;
  readonly tokens: TokenStore;
  readonly usage: UsageStore;
  readonly audit: AuditStore;
  readonly meta: MetaStore;
  readonly sessions: SessionStore;
  readonly adminSessions: AdminSessionStore;
  readonly templates: TemplateStore;
  /**
   * A number that changes whenever another process (a CLI command, another instance) commits a
   * change to what instances cache: keys, tokens, sessions, JWT revocations, templates (SQLite:
   * any commit; Postgres: once the commit's notification has arrived). Polled to pick up changes
   * made elsewhere without a restart.
   */
  changeMarker(): Promise<number>;
  /**
   * Calls `listener` with the changed table as soon as a change is committed, where the store can
   * tell (Postgres's LISTEN/NOTIFY; '' when some may have been missed); returns the unsubscribe.
   * Without it, `changeMarker` is polled.
   */
  onChange?(listener: (table: string) => void): () => void;
  /**
   * Moves every other process's change marker (and tells `onChange`) as a commit to what they
   * cache does, for a change outside the store they must follow: `what` names it (the master key
   * file).
   */
  signalChange(what: string): Promise<void>;
  /** Resolves when the store answers a query now; rejects when it cannot be reached (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
