import { timingSafeEqual } from 'node:crypto';
import { SecretString } from '../keys/secret-string.js';
import { MAX_TOKEN_DEPTH, type Scope, type Store, type TokenRecord } from '../store/index.js';
import { IpAllowlist } from './ip-allowlist.js';
import { RevocationCursor } from './revocation-cursor.js';
import { formatToken, hashTokenSecret, newTokenId, newTokenSecret, parseToken } from './token-format.js';
import { assertNarrower, DEFAULT_SCOPES, lifetimeMs, type TokenSpec, WiderTokenError } from './token-spec.js';

/** Who a gateway token speaks for, with the constraints every request is held to. */
export interface TokenPrincipal {
  kind: 'token';
  /** Safe to log: the token's id, never its secret. */
  fingerprint: string;
  tokenId: string;
  clientId: string | null;
  userId: string | null;
  scopes: ReadonlySet<Scope>;
  record: TokenRecord;
  /**
   * The tokens that minted this one, nearest first: their limits and budgets hold for its
   * requests too, so that a token cannot multiply its own by minting. Absent for other principals.
   */
  lineage?: readonly TokenRecord[];
  /**
   * Limits held together with other principals (every guest: `auth.guest.total`), counted under
   * `subject`.
   */
  shared?: { subject: string; limits: TokenRecord['limits'] };
  /**
   * A browser session's: the token that signed it in. Its usage is stored with that token, so that
   * the budgets of its lineage count it when read back from the store, the session long pruned.
   */
  sessionCreator?: string;
  /** The most stored responses and conversations its owner may keep (a guest's: `auth.guest.maxStored`). */
  maxStored?: number;
  /**
   * Who owns the conversation state it stores when it has no user, if not the token itself: a
   * guest's own session, while its limits hold per client address.
   */
  owner?: string;
}

export type TokenFailure = 'invalid' | 'revoked' | 'expired' | 'ip_not_allowed';
export type TokenCheck = { principal: TokenPrincipal } | { failure: TokenFailure };

interface Cached {
  record: TokenRecord;
  hash: Buffer;
  /**
   * The secret last proven against `hash`, masked like a provider key. Later requests with the
   * same token compare against it in constant time instead of computing an HMAC, whose OpenSSL
   * context cost more than 10 µs of CPU per request under load.
   */
  proven?: SecretString;
  principal: TokenPrincipal;
  allowlist: IpAllowlist | undefined;
}

/** Misses for unknown ids are remembered this long, so garbage ids cannot make every request read the store. */
const NEGATIVE_TTL_MS = 1_000;
const MAX_NEGATIVE = 10_000;
/** Compared against when the id is unknown, so that an unknown id costs what a wrong secret does. */
const DUMMY_HASH = Buffer.alloc(32);

const live = (record: TokenRecord): boolean => record.revokedAt === null;

/**
 * Whether the tokens above a token still stand behind it: each live, and each of its user. A
 * token minted for a user by a creator without one (possible before minting checked it) would
 * spend as that user and read what the user stored: it is refused as a revoked one is.
 */
const held = (record: TokenRecord, lineage: readonly TokenRecord[]): boolean =>
  lineage.every((above) => live(above) && above.userId === record.userId);

/**
 * Gateway tokens: minting, verification and revocation. Verification runs from an in-memory cache
 * of the live tokens (no store read in the steady state); a miss reads the store once. Revocations
 * by another instance arrive through `syncRevocations`, which the gateway calls when the store
 * changes.
 */
/**
 * Drops from `cache` every principal held under one of the `revoked` tokens (in its lineage): a
 * token minted, or a session signed in, by a token since revoked.
 */
export function forgetMintedUnder(
  cache: Map<string, { principal: TokenPrincipal }>,
  revoked: readonly string[],
): void {
  const gone = new Set(revoked);
  for (const [id, cached] of cache) {
    if (cached.principal.lineage?.some((record) => gone.has(record.id))) cache.delete(id);
  }
}

export class TokenService {
  private readonly cache = new Map<string, Cached>();
  private readonly misses = new Map<string, number>();
  private readonly revocations: RevocationCursor;
  private readonly revokedListeners: Array<(ids: readonly string[]) => void> = [];

  constructor(
    private readonly store: Store,
    private readonly pepper: Buffer,
    private readonly now: () => number = Date.now,
  ) {
    this.revocations = new RevocationCursor(now, true);
  }

  async load(): Promise<void> {
    this.revocations.reset();
    // Oldest first: a token's creator is remembered before it.
    for (const record of await this.store.tokens.list()) {
      const lineage = await this.lineage(record);
      if (held(record, lineage)) this.remember(record, lineage);
    }
  }

  /** Checks a `kw_…` credential from `ip`; a Promise only when the id was not in the cache. */
  verify(credential: string, ip: string): TokenCheck | Promise<TokenCheck> {
    const parsed = parseToken(credential);
    if (!parsed) return { failure: 'invalid' };
    const cached = this.cache.get(parsed.id);
    if (cached) return this.judge(cached, this.matches(cached, parsed.secret), ip);
    const digest = hashTokenSecret(this.pepper, parsed.secret);
    const missedUntil = this.misses.get(parsed.id);
    if (missedUntil !== undefined && missedUntil > this.now()) {
      timingSafeEqual(digest, DUMMY_HASH);
      return { failure: 'invalid' };
    }
    return this.store.tokens.get(parsed.id).then(async (record) => {
      if (!record) {
        this.missed(parsed.id);
        timingSafeEqual(digest, DUMMY_HASH);
        return { failure: 'invalid' };
      }
      // Revoked itself: no reads of its lineage, whose depth a caller would otherwise multiply.
      const lineage = record.revokedAt === null ? await this.lineage(record) : [];
      // A token whose creator is revoked is revoked with it (the store does so; this covers tokens
      // minted before it did, or while the creator's revocation ran).
      if (record.revokedAt !== null || !held(record, lineage)) {
        // Only a caller holding the right secret learns that the token was revoked.
        return timingSafeEqual(digest, Buffer.from(record.secretHash, 'hex'))
          ? { failure: 'revoked' }
          : { failure: 'invalid' };
      }
      const remembered = this.remember(record, lineage);
      return this.judge(remembered, this.matches(remembered, parsed.secret, digest), ip);
    });
  }

  async create(
    spec: TokenSpec,
    creator: TokenRecord | null,
  ): Promise<{ token: string; record: TokenRecord }> {
    const id = newTokenId();
    const secret = newTokenSecret();
    const now = this.now();
    const lifetime = lifetimeMs(spec.expiresIn);
    const record: TokenRecord = {
      id,
      secretHash: hashTokenSecret(this.pepper, secret).toString('hex'),
      name: spec.name,
      clientId: spec.clientId ?? null,
      userId: spec.userId ?? creator?.userId ?? null,
      scopes:
        spec.scopes ??
        (spec.templates
          ? ['templates']
          : creator
            ? creator.scopes.filter((s) => DEFAULT_SCOPES.includes(s))
            : DEFAULT_SCOPES),
      models: spec.models ?? creator?.models ?? null,
      providers: spec.providers ?? creator?.providers ?? null,
      templates: spec.templates ?? creator?.templates ?? null,
      maxTokens: spec.maxTokens ?? creator?.maxTokens ?? null,
      ipAllowlist: spec.ipAllowlist ?? creator?.ipAllowlist ?? null,
      expiresAt: lifetime !== undefined ? now + lifetime : (creator?.expiresAt ?? null),
      limits: { ...creator?.limits, ...spec.limits },
      budget: spec.budget ?? creator?.budget ?? null,
      metadata: {
        ...(creator?.metadata.tier !== undefined && { tier: creator.metadata.tier }),
        ...spec.metadata,
      },
      createdBy: creator?.id ?? null,
      createdAt: now,
      revokedAt: null,
    };
    const lineage = creator ? [creator, ...(await this.lineage(creator))] : [];
    if (creator) assertNarrower(record, creator);
    if (lineage.length >= MAX_TOKEN_DEPTH)
      throw new WiderTokenError(`a token may be minted at most ${MAX_TOKEN_DEPTH} tokens deep`);
    await this.store.tokens.insert(record);
    this.remember(record, lineage);
    return { token: formatToken(id, secret), record };
  }

  /**
   * Revokes at once on this instance; others drop it at their next `syncRevocations`. The
   * dashboard logins it opened end at once everywhere: they are looked up in the store.
   */
  async revoke(id: string): Promise<boolean> {
    const revoked = await this.store.tokens.revoke(id, this.now());
    this.forget([id]);
    await this.store.adminSessions.removeFor(id);
    return revoked;
  }

  /**
   * The token with this id while it is live (not revoked, not expired): a dashboard session it
   * opened, on any worker or instance, lasts as long. A token this process does not hold (created
   * elsewhere since it started, or revoked) is read from the store.
   */
  async liveRecord(id: string): Promise<TokenRecord | undefined> {
    return (await this.liveLineage(id))?.[0];
  }

  /**
   * The token with this id and the tokens above it, nearest first, while every one of them is live
   * (see `liveRecord`): what a browser session it signed in answers to.
   */
  async liveLineage(id: string): Promise<readonly TokenRecord[] | undefined> {
    const record = this.cache.get(id)?.record ?? (await this.store.tokens.get(id));
    if (!record || record.revokedAt !== null) return undefined;
    if (record.expiresAt !== null && record.expiresAt <= this.now()) return undefined;
    const lineage = await this.lineage(record);
    return held(record, lineage) ? [record, ...lineage] : undefined;
  }

  /** Calls `listener` with the ids of tokens revoked, here or (at the next sync) by any instance. */
  onRevoked(listener: (ids: readonly string[]) => void): void {
    this.revokedListeners.push(listener);
  }

  /** Whether `record`'s IP allowlist, if any, lets in `ip`: the list this process holds for it when cached. */
  allowsAddress(record: TokenRecord, ip: string): boolean {
    const cached = this.cache.get(record.id);
    const allowlist =
      cached?.record === record
        ? cached.allowlist
        : record.ipAllowlist
          ? new IpAllowlist(record.ipAllowlist)
          : undefined;
    return allowlist?.allows(ip) ?? true;
  }

  /** Drops tokens revoked (by any instance) since the last call. */
  async syncRevocations(): Promise<void> {
    const ids = await this.revocations.read((since) => this.store.tokens.revokedSince(since));
    if (ids.length > 0) this.forget(ids);
  }

  /**
   * Drops revoked tokens from the cache with every token cached as minted under them: the store
   * revokes those too, but one minted while the revocation ran is missed by it, and its cached
   * lineage still shows the creator live.
   */
  private forget(revoked: readonly string[]): void {
    for (const id of revoked) this.cache.delete(id);
    forgetMintedUnder(this.cache, revoked);
    for (const listener of this.revokedListeners) listener(revoked);
  }

  /** Whether `secret` is the token's; secrets are of one fixed length (`parseToken`). */
  private matches(cached: Cached, secret: string, digest?: Buffer): boolean {
    const { proven } = cached;
    if (proven && timingSafeEqual(Buffer.from(secret), Buffer.from(proven.reveal()))) return true;
    if (!timingSafeEqual(digest ?? hashTokenSecret(this.pepper, secret), cached.hash)) return false;
    cached.proven = new SecretString(secret);
    return true;
  }

  private judge(cached: Cached, matches: boolean, ip: string): TokenCheck {
    if (!matches) return { failure: 'invalid' };
    const { record } = cached;
    if (record.expiresAt !== null && record.expiresAt <= this.now()) return { failure: 'expired' };
    if (cached.allowlist && !cached.allowlist.allows(ip)) return { failure: 'ip_not_allowed' };
    return { principal: cached.principal };
  }

  /** The tokens above `record`, nearest first: from the cache, else from the store. */
  async lineage(record: TokenRecord, depth = 0): Promise<readonly TokenRecord[]> {
    if (record.createdBy === null || depth >= MAX_TOKEN_DEPTH) return [];
    const cached = this.cache.get(record.createdBy);
    if (cached) return [cached.record, ...(cached.principal.lineage ?? [])];
    const creator = await this.store.tokens.get(record.createdBy);
    return creator ? [creator, ...(await this.lineage(creator, depth + 1))] : [];
  }

  private remember(record: TokenRecord, lineage: readonly TokenRecord[]): Cached {
    const cached: Cached = {
      record,
      hash: Buffer.from(record.secretHash, 'hex'),
      allowlist: record.ipAllowlist ? new IpAllowlist(record.ipAllowlist) : undefined,
      principal: {
        kind: 'token',
        fingerprint: `kw_${record.id}`,
        tokenId: record.id,
        clientId: record.clientId,
        userId: record.userId,
        scopes: new Set(record.scopes),
        record,
        lineage,
      },
    };
    if (record.revokedAt === null) this.cache.set(record.id, cached);
    this.misses.delete(record.id);
    return cached;
  }

  private missed(id: string): void {
    if (this.misses.size >= MAX_NEGATIVE) this.misses.delete(this.misses.keys().next().value!);
    this.misses.set(id, this.now() + NEGATIVE_TTL_MS);
  }
}
