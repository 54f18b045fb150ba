import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AUDIT_ACTORS, AUDIT_EVENTS, type AuditSink, recordEvent } from '../audit/index.js';
import { badRequest, GatewayError } from '../errors/gateway-error.js';
import type { ProviderRuntime } from '../forward/provider-runtime.js';
import { parseInput } from '../http/parse-input.js';
import {
  isExpired,
  KeyAlreadyStored,
  KeyValueError,
  type PooledKey,
  type StoredKeys,
} from '../keys/index.js';

export interface AdminKeysOptions {
  stored: StoredKeys;
  providers: ReadonlyMap<string, ProviderRuntime>;
  /** Applies a change made to the store at once (the next request sees it). */
  changed(): Promise<void>;
  /** Each key's requests and last refusal: this process's, or every worker's together. */
  use(): Promise<ReadonlyMap<string, KeyUse>>;
}

/** What a pool counts of one key; `keyUseId` names it. */
export type KeyUse = Pick<PooledKey, 'requests' | 'lastFailure'>;

export const keyUseId = (provider: string, key: string): string => `${provider}\0${key}`;

export interface AdminKeysRouteOptions extends AdminKeysOptions {
  audit: AuditSink;
}

const providerId = z.string().min(1).max(64);
const addBody = z.strictObject({
  provider: providerId,
  value: z.string().min(1).max(4096),
  weight: z.number().int().min(1).max(1000).optional(),
});
const rotateBody = z.strictObject({ provider: providerId, value: z.string().min(1).max(4096) });
const refreshBody = z.strictObject({ provider: providerId.optional() }).optional();
const idParams = z.strictObject({ id: z.string().regex(/^pk_[a-z0-9]{1,32}$/, 'a key id such as pk_…') });

const notFound = (id: string) =>
  new GatewayError(404, 'not_found_error', `No stored key has the id ${id}`, { code: 'key_not_found' });

/**
 * A provider no configuration names. The name given is not repeated (a client may have pasted a
 * key into the field, src/surfaces/zod-issue.ts); the configured ones say what it could have been.
 */
function unknownProvider(providers: ReadonlyMap<string, ProviderRuntime>): GatewayError {
  const known = [...providers.keys()];
  return badRequest(
    known.length === 0
      ? 'Unknown provider: no provider is configured'
      : `Unknown provider: the configured providers are ${known.join(', ')}`,
    { param: 'provider', code: 'unknown_provider' },
  );
}

/** The provider named, when its keys are kept in the store (else the admin API cannot change them). */
function requireStoreProvider(providers: ReadonlyMap<string, ProviderRuntime>, id: string): void {
  const runtime = providers.get(id);
  if (!runtime) throw unknownProvider(providers);
  if (runtime.keys.sourceKind !== 'store') {
    throw badRequest(
      `Provider '${id}' takes its keys from ${runtime.keys.sourceKind}; set its keys to { store: true } to manage them here`,
      { param: 'provider', code: 'provider_not_store_backed' },
    );
  }
}

/** A key value the store refuses is the client's to fix. */
async function guard<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof KeyValueError)
      throw badRequest(error.message, { param: 'value', code: 'invalid_key' });
    if (error instanceof KeyAlreadyStored)
      throw new GatewayError(409, 'invalid_request_error', error.message, {
        param: 'value',
        code: 'key_already_stored',
      });
    throw error;
  }
}

/**
 * `/admin/keys`: the stored provider keys (add, rotate, disable, enable, remove) and the live
 * state of every provider's pool. Values go in once and never come out: answers carry ids and
 * fingerprints only.
 */
export function adminKeyRoutes(app: FastifyInstance, options: AdminKeysRouteOptions): void {
  const { stored, providers } = options;

  app.get('/admin/keys', async () => {
    const now = Date.now();
    const use = await options.use();
    return {
      stored: await stored.list(),
      providers: [...providers.values()].map((runtime) => ({
        provider: runtime.id,
        source: runtime.keys.sourceKind,
        loadedAt: runtime.keys.loadedAt ? new Date(runtime.keys.loadedAt).toISOString() : null,
        lastError: runtime.keys.lastError ?? null,
        keys: runtime.keys.pool.list().map((key) => {
          const { requests, lastFailure } = use.get(keyUseId(runtime.id, key.id)) ?? key;
          return {
            id: key.id,
            fingerprint: key.secret.fingerprint,
            // Past its source's expiry it is out whatever its health, until a refresh drops it.
            state: isExpired(key, now) ? 'expired' : key.state,
            expiresAt: key.expiresAt === undefined ? null : new Date(key.expiresAt).toISOString(),
            coolingForMs: runtime.keys.pool.coolingFor(key, now),
            coolingModels: runtime.keys.pool
              .coolingModels(key, now)
              .map(({ model, until }) => ({ model, coolingForMs: until - now })),
            weight: key.weight,
            ageDays: key.createdAt === undefined ? null : Math.floor((now - key.createdAt) / 86_400_000),
            requests,
            lastFailure: lastFailure && {
              kind: lastFailure.kind,
              at: new Date(lastFailure.at).toISOString(),
            },
          };
        }),
      })),
    };
  });

  storedKeyRoutes(app, options);

  /** Reloads keys from their sources now (after changing a secret in Vault, say). */
  app.post('/admin/keys/refresh', async (request) => {
    const body = parseInput(refreshBody, request.body ?? undefined);
    if (body?.provider && !providers.has(body.provider)) throw unknownProvider(providers);
    const targets = [...providers.values()].filter((p) => !body?.provider || p.id === body.provider);
    const results = await Promise.all(
      targets.map(async (p) => ({ provider: p.id, ok: await p.keys.refresh() })),
    );
    return { refreshed: results };
  });
}

/** Adding, rotating, disabling, enabling and removing stored keys; each is audited and applied at once. */
function storedKeyRoutes(app: FastifyInstance, options: AdminKeysRouteOptions): void {
  const { stored, providers, audit } = options;

  app.post('/admin/keys', async (request, reply) => {
    const body = parseInput(addBody, request.body);
    requireStoreProvider(providers, body.provider);
    const view = await guard(() => stored.add(body.provider, body.value, body.weight));
    recordEvent(audit, AUDIT_EVENTS.keyAdded, AUDIT_ACTORS.admin, {
      provider: view.provider,
      keyId: view.id,
      fingerprint: view.fingerprint,
      source: 'admin-api',
    });
    await options.changed();
    return reply.code(201).send(view);
  });

  app.post('/admin/keys/rotate', async (request) => {
    const body = parseInput(rotateBody, request.body);
    requireStoreProvider(providers, body.provider);
    const result = await guard(() => stored.rotate(body.provider, body.value));
    recordEvent(audit, AUDIT_EVENTS.keyRotated, AUDIT_ACTORS.admin, {
      provider: result.added.provider,
      keyId: result.added.id,
      fingerprint: result.added.fingerprint,
      ...(result.disabled[0] && { previousKeyId: result.disabled.join(',') }),
    });
    await options.changed();
    return result;
  });

  for (const [action, status] of [
    ['disable', 'disabled'],
    ['enable', 'active'],
  ] as const) {
    app.post(`/admin/keys/:id/${action}`, async (request) => {
      const { id } = parseInput(idParams, request.params);
      const view = await stored.setStatus(id, status);
      if (!view) throw notFound(id);
      recordEvent(
        audit,
        action === 'disable' ? AUDIT_EVENTS.keyDisabled : AUDIT_EVENTS.keyEnabled,
        AUDIT_ACTORS.admin,
        {
          provider: view.provider,
          keyId: view.id,
        },
      );
      await options.changed();
      return view;
    });
  }

  app.delete('/admin/keys/:id', async (request) => {
    const { id } = parseInput(idParams, request.params);
    const view = await stored.remove(id);
    if (!view) throw notFound(id);
    recordEvent(audit, AUDIT_EVENTS.keyRemoved, AUDIT_ACTORS.admin, {
      provider: view.provider,
      keyId: view.id,
    });
    await options.changed();
    return view;
  });
}
