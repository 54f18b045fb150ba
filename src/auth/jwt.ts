import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  errors,
  type JSONWebKeySet,
  type JWKSCacheInput,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwksCache,
  jwtVerify,
} from 'jose';
import type { Config } from '../config/index.js';
import type { JwtClaim, JwtRevocation, Scope, Store, TokenRecord } from '../store/index.js';
import type { JwtCheck } from './jwt-check.js';
import { isPlainText } from './plain-text.js';
import { RevocationCursor } from './revocation-cursor.js';
import type { TokenPrincipal } from './tokens.js';

type IssuerConfig = Config['auth']['jwt'][number];

/** What a JWT may grant on the data plane: never `admin` or `sessions`. */
const JWT_SCOPES: ReadonlySet<Scope> = new Set(['models:read', 'chat', 'embeddings', 'templates']);
const DEFAULT_SCOPES: Scope[] = ['models:read', 'chat', 'embeddings'];
/** jose refetches a JWKS on an unknown `kid` only when this long has passed since the last fetch. */
const JWKS_COOLDOWN_MS = 30_000;
const JWKS_MAX_AGE_MS = 10 * 60_000;
const JWKS_TIMEOUT_MS = 5_000;
const MAX_CACHED = 10_000;

interface Issuer {
  index: number;
  config: IssuerConfig;
  keys: JWTVerifyGetKey | KeyObject;
}

interface Verified {
  principal: TokenPrincipal;
  /** Epoch ms. */
  expiresAt: number;
}

/**
 * An issuer's published keys, fetched as jose does (again on an unknown `kid`, at most every
 * JWKS_COOLDOWN_MS). jose judges the set's age by the wall clock: fetched before a step back, the
 * set looked fetched in the future and nothing was fetched again for the step's length, so every
 * token signed with a rotated-in key was refused. Such a set is dropped and fetched anew.
 */
function remoteKeys(url: URL): JWTVerifyGetKey {
  const create = (cache: JWKSCacheInput) =>
    createRemoteJWKSet(url, {
      cooldownDuration: JWKS_COOLDOWN_MS,
      cacheMaxAge: JWKS_MAX_AGE_MS,
      timeoutDuration: JWKS_TIMEOUT_MS,
      // Where jose stamps each fetch, read here.
      [jwksCache]: cache,
    });
  let cache: JWKSCacheInput = {};
  let keys = create(cache);
  return (header, token) => {
    if ('uat' in cache && cache.uat > Date.now()) {
      cache = {};
      keys = create(cache);
    }
    return keys(header, token);
  };
}

function keySource(config: IssuerConfig): JWTVerifyGetKey | KeyObject {
  if (config.jwksUrl) return remoteKeys(new URL(config.jwksUrl));
  if (config.jwks) return createLocalJWKSet(config.jwks as unknown as JSONWebKeySet);
  return createPublicKey(readFileSync(config.publicKeyFile!, 'utf8'));
}

/** A claim by name; a dotted name reaches into objects (`app_metadata.tier`). */
function claim(payload: JWTPayload, name: string): unknown {
  let value: unknown = payload;
  for (const part of name.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Scopes as an array or a space-separated string (OAuth's `scope`). */
function stringList(value: unknown): string[] | undefined {
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean);
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value;
  return undefined;
}

/**
 * Bearer JWTs from the app's identity provider. Keys come only from the configured source: the
 * `jku`, `x5u` and `jwk` header values are never read, only public-key algorithms are accepted,
 * and `exp` is required. A verified token is remembered until it expires, so a repeat costs a map
 * lookup instead of a signature check; revocations (by `sub`, `jti` or `sid`) clear that memory.
 */
export class JwtVerifier {
  private readonly issuers = new Map<string, Issuer>();
  private readonly verified = new Map<string, Verified>();
  /** Revoked claim values, each with when it was revoked. */
  private readonly revoked = new Map<string, number>();
  private readonly revocations: RevocationCursor;

  constructor(
    configs: readonly IssuerConfig[],
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {
    configs.forEach((config, index) => {
      this.issuers.set(config.issuer, { index, config, keys: keySource(config) });
    });
    this.revocations = new RevocationCursor(now, true);
  }

  /** The configured issuers, as tokens must name them in `iss`. */
  get issuerNames(): string[] {
    return [...this.issuers.keys()];
  }

  async load(): Promise<void> {
    this.revocations.reset();
    for (const revocation of await this.store.sessions.jwtRevocationsSince(0)) this.remember(revocation);
  }

  verify(credential: string): JwtCheck | Promise<JwtCheck> {
    const known = this.verified.get(credential);
    if (known) {
      if (known.expiresAt > this.now()) return { principal: known.principal };
      this.verified.delete(credential);
      return { failure: 'expired' };
    }
    return this.verifySlow(credential);
  }

  async revoke(claimName: JwtClaim, value: string, issuer = ''): Promise<void> {
    const revocation = { claim: claimName, value, issuer, revokedAt: this.now() };
    await this.store.sessions.revokeJwt(revocation);
    this.remember(revocation);
  }

  /** Picks up revocations made by any instance since the last call. */
  async syncRevocations(): Promise<void> {
    const found = await this.revocations.read((since) => this.store.sessions.jwtRevocationsSince(since));
    for (const revocation of found) this.remember(revocation);
  }

  private async verifySlow(credential: string): Promise<JwtCheck> {
    let issuer: Issuer | undefined;
    try {
      const { iss } = decodeJwt(credential);
      issuer = typeof iss === 'string' ? this.issuers.get(iss) : undefined;
    } catch {
      return { failure: 'invalid' };
    }
    if (!issuer) return { failure: 'invalid' };
    const { config } = issuer;
    let payload: JWTPayload;
    try {
      const options = {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: config.algorithms,
        clockTolerance: config.clockToleranceSec,
        requiredClaims: ['exp'],
      };
      // Two calls rather than one with a union: jose types the key getter and a key apart.
      payload =
        typeof issuer.keys === 'function'
          ? (await jwtVerify(credential, issuer.keys, options)).payload
          : (await jwtVerify(credential, issuer.keys, options)).payload;
    } catch (error) {
      return { failure: error instanceof errors.JWTExpired ? 'expired' : 'invalid' };
    }
    // jose takes an `iat` in the future as it comes, and a `sub` or `sid` revocation spares tokens
    // issued after it: one dated ahead of the issuer's clock tolerance would outlive every revocation.
    if (payload.iat !== undefined && payload.iat > this.now() / 1000 + config.clockToleranceSec)
      return { failure: 'invalid' };
    if (this.isRevoked(payload, config)) return { failure: 'revoked' };
    const principal = this.principalFor(issuer, payload);
    if (!principal) return { failure: 'invalid' };
    if (this.verified.size >= MAX_CACHED) this.verified.delete(this.verified.keys().next().value!);
    // Kept as long as jose would accept it: the exp plus the tolerance for disagreeing clocks.
    this.verified.set(credential, {
      principal,
      expiresAt: (payload.exp! + config.clockToleranceSec) * 1000,
    });
    return { principal };
  }

  private principalFor(issuer: Issuer, payload: JWTPayload): TokenPrincipal | undefined {
    const { claims } = issuer.config;
    const user = claim(payload, claims.user);
    if (typeof user !== 'string' || user.length === 0 || user.length > 256 || !isPlainText(user))
      return undefined;
    // Absent, the claim narrows nothing (the default scopes); present but not a list of names,
    // it allows nothing, as the models and templates claims do (fail closed).
    const scopeClaim = claims.scopes ? claim(payload, claims.scopes) : undefined;
    const scopes =
      scopeClaim === undefined
        ? DEFAULT_SCOPES
        : ((stringList(scopeClaim) ?? []).filter((s) => JWT_SCOPES.has(s as Scope)) as Scope[]);
    const modelClaim = claims.models ? claim(payload, claims.models) : undefined;
    // A models claim that is present but not a list of names allows nothing (fail closed).
    const models = modelClaim === undefined ? null : (stringList(modelClaim) ?? []);
    const templateClaim = claims.templates ? claim(payload, claims.templates) : undefined;
    const templates = templateClaim === undefined ? null : (stringList(templateClaim) ?? []);
    const tier = claims.tier ? claim(payload, claims.tier) : undefined;
    const id = `jwt${issuer.index}_${user}`;
    const userId = `${issuer.config.userPrefix ?? ''}${user}`;
    const record: TokenRecord = {
      id,
      secretHash: '',
      name: 'jwt',
      clientId: null,
      userId,
      scopes,
      models,
      providers: null,
      maxTokens: null,
      templates,
      ipAllowlist: null,
      expiresAt: payload.exp! * 1000,
      limits: {},
      budget: null,
      metadata: typeof tier === 'string' ? { tier } : {},
      createdBy: null,
      createdAt: this.now(),
      revokedAt: null,
    };
    return {
      kind: 'token',
      fingerprint: id,
      tokenId: id,
      clientId: null,
      userId,
      scopes: new Set(scopes),
      record,
    };
  }

  /**
   * A revoked `jti` is that one token. A revoked `sub` or `sid` is every token issued until the
   * revocation (`iat`, give or take the issuer's clock tolerance; one without `iat` counts as
   * issued before): the user who signs in again afterwards gets a token that works, as the
   * refusal's "sign in again" promises. A `sub` is revoked under `userPrefix` + `sub` as well as
   * itself: with the default `claims.user`, that is the user id usage and audit show, which is
   * what an operator copies.
   */
  private isRevoked(payload: JWTPayload, config: IssuerConfig): boolean {
    for (const name of ['sub', 'jti', 'sid'] as const) {
      const value = payload[name];
      if (typeof value !== 'string') continue;
      let revokedAt = this.revokedAt(name, config.issuer, value);
      if (name === 'sub' && config.userPrefix)
        revokedAt = Math.max(revokedAt, this.revokedAt(name, config.issuer, `${config.userPrefix}${value}`));
      if (revokedAt < 0) continue;
      if (name === 'jti' || payload.iat === undefined) return true;
      if (payload.iat * 1000 <= revokedAt + config.clockToleranceSec * 1000) return true;
    }
    return false;
  }

  /** When `value` was last revoked for this issuer or for every issuer; -1 if never. */
  private revokedAt(name: JwtClaim, issuer: string, value: string): number {
    return Math.max(
      this.revoked.get(`${name}\0\0${value}`) ?? -1,
      this.revoked.get(`${name}\0${issuer}\0${value}`) ?? -1,
    );
  }

  private remember(revocation: JwtRevocation): void {
    const key = `${revocation.claim}\0${revocation.issuer}\0${revocation.value}`;
    if ((this.revoked.get(key) ?? -1) >= revocation.revokedAt) return;
    this.revoked.set(key, revocation.revokedAt);
    // Rare: drop every remembered token, so the next request of each is judged again.
    this.verified.clear();
  }
}
