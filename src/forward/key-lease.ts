import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../errors/gateway-error.js';
import type { Acquired, KeyVerdict, PooledKey, SecretString } from '../keys/index.js';
import { weighsBeyondBytes } from '../limits/remote-input.js';
import type { Metrics } from '../observability/index.js';
import { retryAfterMs, type UpstreamBody, type UpstreamCall, type Verdict } from '../upstream/index.js';
import type { ProviderRuntime } from './provider-runtime.js';

/** No key of the provider can be used now; carries when the first one recovers. */
export class KeysUnavailable extends Error {
  override name = 'KeysUnavailable';
  constructor(readonly reason: Exclude<Acquired, { key: PooledKey }>) {
    super('no usable provider key');
  }

  toGatewayError(): GatewayError {
    if (this.reason.exhausted === 'cooling') {
      // The wait is the first key's return: hours away when every key spent a per-day quota,
      // which the client is then told as a time too.
      const seconds = Math.max(1, Math.ceil(this.reason.retryAfterMs / 1000));
      const at = seconds > 60 ? ` (at ${new Date(Date.now() + seconds * 1000).toISOString()})` : '';
      return new GatewayError(
        429,
        'rate_limit_error',
        `All provider keys are cooling down after rate limits; retry after ${seconds} s${at}`,
        { code: 'provider_keys_cooling', headers: { 'retry-after': String(seconds) } },
      );
    }
    if (this.reason.exhausted === 'invalid') {
      return new GatewayError(
        503,
        'service_unavailable',
        'The provider refused every key the gateway holds for it; an operator must replace them',
        { code: 'provider_keys_invalid' },
      );
    }
    // No key, or keys past their source's expiry: which and since when is the operator's to read
    // (`/admin/keys`, the log), not a client's.
    return new GatewayError(503, 'service_unavailable', 'The provider has no usable key', {
      code: 'provider_unavailable',
    });
  }
}

export const passthroughKeyMissing = new GatewayError(
  401,
  'authentication_error',
  "This model's provider uses your own provider key: send it in the x-provider-api-key header",
  { code: 'provider_key_required' },
);

export const passthroughKeyRejected = new GatewayError(
  401,
  'authentication_error',
  'The provider refused the key sent in x-provider-api-key',
  { code: 'provider_key_rejected' },
);

/**
 * The provider refused a request made with the gateway's key, and a probe found the key working:
 * what was asked is not available to the gateway (a model, region or project the key lacks).
 */
function notAvailable(model: string): GatewayError {
  return new GatewayError(
    403,
    'permission_error',
    `The model '${model}' is not available to the gateway: the provider refused it for the gateway's key; use another model or ask the operator`,
    { code: 'model_not_available', param: 'model' },
  );
}

/** An error answer longer than this is not one whose words decide anything. */
const MAX_JUDGED_BODY = 16 * 1024;

/**
 * How long a key whose account is out of credit stays out when the answer gives no Retry-After:
 * credit comes back only when someone adds it, so trying the key every second or minute would
 * only spend requests on it; five minutes bounds how long a key topped up waits to come back.
 */
const ACCOUNT_SPENT_COOL_DOWN_MS = 5 * 60_000;

/**
 * The provider refused a request as larger than a key may send in a minute: it fails on every
 * key, so no key is cooled or tried for it, and the client learns what to shorten.
 */
function tooLargeForAnyKey(model: string): GatewayError {
  return new GatewayError(
    400,
    'invalid_request_error',
    `The request is larger than the provider accepts for '${model}' in a minute: shorten the input or lower max_tokens`,
    { code: 'request_too_large' },
  );
}

/**
 * The most tokens a provider counts for one byte of a body without inline media: text is at most
 * a token a byte (a tokenizer falls back to bytes), doubled for margin. Media is weighed apart
 * (`weighsBeyondBytes`): a PDF page or an image tile counts hundreds of tokens in a few bytes.
 */
const MAX_TOKENS_PER_BYTE = 2;

/** Whether a JSON body holds input its bytes do not bound (`weighsBeyondBytes`); one that is no JSON may. */
function unboundedByBytes(body: string): boolean {
  try {
    return weighsBeyondBytes(JSON.parse(body));
  } catch {
    return true;
  }
}

/**
 * The key side of one request to one provider: which key each attempt uses, and what the
 * provider's answer says about that key. A pooled key that is rate limited cools down; one that
 * is refused is probed (`KeyChecker`), and benched and alerted on only when the probe confirms it
 * invalid; either way the next attempt moves to another key. A passthrough key belongs to the
 * client: it is used as given and its failures mark nothing. A provider with no `keys` block is
 * sent no key.
 */
export class KeyLease {
  private current: PooledKey | undefined;
  /** The keys the provider refused in this request, each with its probe's verdict to come. */
  private readonly refused = new Map<PooledKey, Promise<KeyVerdict>>();
  /** The provider said the request alone exceeds what its keys may send in a minute. */
  private requestTooLarge = false;
  /** Keys that refused this request for a token quota it may have filled by itself. */
  private readonly quotaTried = new Set<PooledKey>();
  /** The body of the attempt in flight, weighed against a token quota its answer names. */
  private sent: string | undefined;
  /**
   * Whether `sent` holds input its bytes do not bound: read once, however many keys answer that
   * body with a token quota.
   */
  private unbounded: boolean | undefined;
  readonly pooled: boolean;

  constructor(
    private readonly provider: ProviderRuntime,
    /** The provider's name for the model asked: its rate limits are that model's. */
    private readonly model: string,
    /** The client's own key, given only for a provider whose `keys` block is `passthrough: true`. */
    private readonly passthroughKey: SecretString | undefined,
    private readonly metrics: Metrics,
    /**
     * The request counts tokens: providers limit counting apart from generation (Anthropic's
     * count_tokens has a rate limit of its own), so its 429 says nothing of the key's other limits.
     */
    private readonly counting = false,
  ) {
    // A provider given a `keys` block takes one of them or nothing: sent without one, a request
    // would reach a server that checks none even though every key was disabled.
    this.pooled = provider.keys.pooled;
  }

  /** How many times a request may move to another key: once per key in the pool. */
  get maxRotations(): number {
    return this.pooled ? this.provider.keys.pool.size : 0;
  }

  /** The key for the next attempt. Throws KeysUnavailable when the pool has none to give. */
  next(): SecretString | undefined {
    if (!this.pooled) return this.passthroughKey;
    const acquired = this.provider.keys.acquire(undefined, this.model);
    if (!acquired.key) throw new KeysUnavailable(acquired);
    this.current = acquired.key;
    this.metrics.providerKeyUsed(this.provider.id, acquired.key.id);
    return acquired.key.secret;
  }

  /** Remembers the attempt's body (see `mayFillQuota`); returns the call unchanged. */
  sending(call: UpstreamCall): UpstreamCall {
    if (call.body !== this.sent) this.unbounded = undefined;
    this.sent = call.body;
    return call;
  }

  /**
   * What an answer says about the attempt's key. A 429 cools the key for the model asked and moves
   * on (providers limit each model apart: one client spending a small model's limit must not take
   * the key away from every other model), unless the provider says the request alone is too large
   * (that needs the body's words): then nothing is cooled and the answer is final. A 429 whose
   * rate-limit headers show every limit with room left is about this request (it does not fit what
   * is left): it moves on and cools nothing, or one client sending requests too large for any key
   * could take every key out of rotation. A 429 saying the account is out of credit cools the key
   * for every model. A 429 naming a token quota, per minute or per day (Gemini's, which carry no
   * headers), cools the key for the model only when the request cannot have filled the quota by
   * itself; when it may have, the request moves on and nothing is cooled, or one client sending a
   * short body that names a long video could cool every key in turn. A 429 naming a per-day quota
   * (of requests, or of tokens the request cannot have filled) takes the key out for the model
   * until the quota resets. A 401/403 asks for a probe of the
   * key and moves on; so does an error whose body names the key invalid (Gemini's 400), and one
   * whose body says the account is spent (Anthropic's 400 or 402) cools the key for every model.
   * Those bodies are read only for the statuses the provider uses for them (`judgedStatuses`).
   */
  judge(status: number, headers: IncomingHttpHeaders, body: UpstreamBody): Verdict | Promise<Verdict> {
    const key = this.current;
    if (!key) return undefined;
    const { pool } = this.provider.keys;
    if (status === 429) {
      const probe = this.provider.keyProbe;
      if (!probe?.saysRequestTooLarge && !probe?.tokenQuota) return this.rateLimited(key, headers);
      return body.peek(MAX_JUDGED_BODY).then((text) => {
        this.requestTooLarge = probe.saysRequestTooLarge?.(text) === true;
        if (this.requestTooLarge) return 'final';
        if (probe.saysQuotaSpent?.(text, status)) return this.spent(key, headers);
        const quota = this.counting ? undefined : probe.tokenQuota?.(text);
        if (quota !== undefined && this.mayFillQuota(quota)) {
          // Each key once: the same key again within the minute (or the day) would answer the same.
          this.quotaTried.add(key);
          return this.quotaTried.size < pool.size ? 'rotate' : 'final';
        }
        const resetsAt = this.counting ? undefined : probe.quotaResetsAt?.(text, Date.now());
        if (resetsAt !== undefined) return this.quotaSpent(key, resetsAt);
        if (quota !== undefined) return this.cool(key, headers, this.model, probe.retryDelayMs?.(text));
        return this.rateLimited(key, headers, probe.retryDelayMs?.(text));
      });
    }
    if (status === 401 || status === 403) return this.refusedKey(key);
    if (status < 400) {
      pool.succeeded(key, this.model);
      return undefined;
    }
    // Statuses on which this provider may say the key is invalid (Gemini's 400 API_KEY_INVALID)
    // or its account spent (Anthropic's 400 or 402): their body decides; no other answer is read.
    const probe = this.provider.keyProbe;
    if (!probe?.judgedStatuses?.has(status)) return undefined;
    return body.peek(MAX_JUDGED_BODY).then((text) => {
      if (probe.saysKeyInvalid(status, text)) return this.refusedKey(key);
      if (probe.saysQuotaSpent?.(text, status)) return this.spent(key, headers);
      return undefined;
    });
  }

  /**
   * The provider refused the key: a probe (not this answer, which a client's request may have
   * caused) decides whether it is benched. Another key may carry the request; the same key again
   * would be refused again.
   */
  private refusedKey(key: PooledKey): Verdict {
    this.suspect(key);
    return this.refused.size < this.provider.keys.pool.size ? 'rotate' : undefined;
  }

  /**
   * The key's account is out of credit: the key cools for every model (its Retry-After, else
   * ACCOUNT_SPENT_COOL_DOWN_MS), and the request moves to another key.
   */
  private spent(key: PooledKey, headers: IncomingHttpHeaders): Verdict {
    return this.cool(key, headers, undefined, retryAfterMs(headers) ?? ACCOUNT_SPENT_COOL_DOWN_MS);
  }

  /**
   * Whether the attempt's body could by itself count `quota` tokens (null: a quota of unknown
   * size): by its bytes at the most tokens a byte of text may count, or because it carries media
   * inline or names content by address or id, whose tokens its size does not bound.
   */
  private mayFillQuota(quota: number | null): boolean {
    const sent = this.sent;
    if (quota === null || sent === undefined) return true;
    if (Buffer.byteLength(sent) * MAX_TOKENS_PER_BYTE >= quota) return true;
    this.unbounded ??= unboundedByBytes(sent);
    return this.unbounded;
  }

  /** The key's per-day quota for the model is spent: out for it until `resetsAt`; the request moves on. */
  private quotaSpent(key: PooledKey, resetsAt: number): Verdict {
    this.provider.keys.pool.quotaSpent(key, this.model, resetsAt);
    this.metrics.providerKeyFailed(this.provider.id, key.id, 'rate_limited');
    return 'rotate';
  }

  /**
   * The request moves to another key; this one cools down for the model unless its limits have
   * room left.
   */
  private rateLimited(key: PooledKey, headers: IncomingHttpHeaders, wait?: number): Verdict {
    if (this.counting || this.provider.keyProbe?.saysKeyExhausted?.(headers) === false) return 'rotate';
    return this.cool(key, headers, this.model, wait);
  }

  /**
   * The key was rate limited, for `model` or for all (undefined): it cools down, and the request
   * moves to another.
   */
  private cool(
    key: PooledKey,
    headers: IncomingHttpHeaders,
    model: string | undefined,
    wait = retryAfterMs(headers),
  ): Verdict {
    this.provider.keys.pool.rateLimited(key, wait, undefined, model);
    this.metrics.providerKeyFailed(this.provider.id, key.id, 'rate_limited');
    return 'rotate';
  }

  /**
   * The client's answer when the provider refused the last attempt's key (a 401/403, or an error
   * that names the key invalid), once the key's probe has spoken, or refused the request as too
   * large for any key; undefined when the failure is about neither.
   */
  async refusal(status: number, body: string, model: string): Promise<GatewayError | undefined> {
    if (this.requestTooLarge) return tooLargeForAnyKey(model);
    const key = this.current;
    const probe = this.provider.keyProbe;
    if (!key || !this.pooled) return undefined;
    const aboutKey = status === 401 || status === 403 || probe?.saysKeyInvalid(status, body) === true;
    if (!aboutKey) return undefined;
    const verdict = await (this.refused.get(key) ?? this.suspect(key));
    if (verdict === 'valid') return notAvailable(model);
    const { pool } = this.provider.keys;
    if (verdict === 'invalid' && !pool.hasUsable()) {
      // The others past their expiry: the provider did not refuse every key.
      const refusedAll = pool.list().every((other) => other.state === 'invalid');
      return new KeysUnavailable({ exhausted: refusedAll ? 'invalid' : 'expired' }).toGatewayError();
    }
    return undefined;
  }

  private suspect(key: PooledKey): Promise<KeyVerdict> {
    this.metrics.providerKeyFailed(this.provider.id, key.id, 'rejected');
    const verdict = this.provider.checker?.verify(key) ?? Promise.resolve<KeyVerdict>('unknown');
    this.refused.set(key, verdict);
    return verdict;
  }
}
