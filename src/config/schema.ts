import { isIP } from 'node:net';
import { z } from 'zod';
import { templateSchema } from '../templating/schema.js';
import {
  alertsSchema,
  auditSchema,
  budgetsSchema,
  pricingSchema,
  rateLimitsSchema,
} from './access-schema.js';
import { corsSchema, guestSchema, jwtIssuerSchema, sessionsSchema, tlsSchema } from './browser-schema.js';
import { aliasCeilingFields, ceilingsSchema } from './ceilings-schema.js';
import { conversationsSchema } from './conversations-schema.js';
import { providerKeysSchema } from './key-sources.js';
import { closeSpelling } from './spelling.js';

/** Milliseconds, bounded so that a typo cannot disable a timeout (0) or make it effectively infinite. */
const millis = (max: number) => z.number().int().min(1).max(max);

/** An address or CIDR, or one of proxy-addr's named ranges. */
const trustedProxy = z.string().refine((entry) => {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true;
  const [address = '', bits, extra] = entry.split('/');
  const version = isIP(address);
  const max = version === 4 ? 32 : 128;
  return (
    version !== 0 &&
    extra === undefined &&
    (bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= max))
  );
}, 'an IP address or CIDR (10.0.0.0/8), or loopback, linklocal or uniquelocal');

const listenerSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535),
});

const timeoutsSchema = z.strictObject({
  /** TCP + TLS handshake. */
  connectMs: millis(120_000).default(5_000),
  /** From the request being sent to the response headers arriving. */
  firstByteMs: millis(600_000).default(60_000),
  /** Longest silence between two body chunks (a stalled stream). */
  idleMs: millis(600_000).default(60_000),
  /** The whole exchange, every retry included. */
  totalMs: millis(3_600_000).default(600_000),
});

const retriesSchema = z.strictObject({
  /** Attempts in all, the first included. */
  maxAttempts: z.number().int().min(1).max(10).default(3),
  baseDelayMs: millis(60_000).default(200),
  maxDelayMs: millis(300_000).default(10_000),
});

/**
 * Headers that describe the body the gateway sends or the connection it sends it on: set by a
 * provider block on every request, they mislabelled the JSON body (a `content-encoding` it does not
 * have, a length it does not have) or failed each request in undici.
 */
const FRAMING_HEADERS: ReadonlySet<string> = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'transfer-encoding',
  'te',
  'trailer',
  'connection',
  'keep-alive',
  'upgrade',
  'expect',
]);

/** Header names a provider block may set on every upstream request (never credentials). */
const staticHeaderName = z
  .string()
  .regex(/^[A-Za-z0-9-]{1,64}$/, 'a header name')
  .refine(
    (name) =>
      !['authorization', 'api-key', 'x-api-key', 'x-goog-api-key', 'cookie', 'host'].includes(
        name.toLowerCase(),
      ),
    'a header other than credentials and host (keys belong in `keys`)',
  )
  .refine(
    (name) => name.toLowerCase() !== 'accept-encoding',
    'a header other than accept-encoding (the gateway asks for uncompressed answers, which it reads as they come)',
  )
  .refine(
    (name) => !FRAMING_HEADERS.has(name.toLowerCase()),
    "a header other than those of the body's type and framing and the connection (content-type, content-length, content-encoding, transfer-encoding, te, trailer, connection, keep-alive, upgrade, expect): the gateway sets them for each request",
  );

export const providerTypes = [
  'openai',
  'openai-compatible',
  'azure-openai',
  'anthropic',
  'gemini',
  'ollama',
] as const;
export type ProviderType = (typeof providerTypes)[number];

/** Why `streamUsage` means nothing for the other types: each already has its streams' usage. */
const STREAM_USAGE_ELSEWHERE: Record<Exclude<ProviderType, 'openai-compatible'>, string> = {
  openai: 'openai is always asked for stream usage',
  'azure-openai': 'azure-openai is asked for stream usage whenever its apiVersion takes stream_options',
  anthropic: 'anthropic streams report usage unasked',
  gemini: 'gemini streams report usage unasked',
  ollama: "ollama's native streams report usage unasked",
};

/**
 * Anthropic features a client may use only where the operator allows them (`allowedFeatures`),
 * whether or not they still need a beta flag: each reaches past the request and its answer (a
 * URL and credentials the client names, state or uploads in the provider account, another
 * organisation's bill) or costs what the gateway does not charge (or cannot see, as code
 * execution's container hours). See providers/anthropic/passthrough.ts.
 */
export const anthropicFeatures = [
  'advisor',
  'billing-policy',
  'code-execution',
  'compaction',
  'files',
  'mcp',
  'skills',
  'threads',
] as const;
export type AnthropicFeature = (typeof anthropicFeatures)[number];

/** A dated Azure OpenAI api-version, GA or preview (the deployment paths take no other). */
const AZURE_API_VERSION = /^\d{4}-\d{2}-\d{2}(-preview)?$/;

const providerSchema = z
  .strictObject({
    id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lowercase letters, digits, "-" or "_"'),
    type: z.enum(providerTypes),
    baseUrl: z.url({ protocol: /^https?$/ }),
    keys: providerKeysSchema.optional(),
    /** azure-openai only: the `api-version` query parameter. */
    apiVersion: z
      .string()
      .regex(/^[0-9A-Za-z.-]{1,40}$/)
      .optional(),
    /** azure-openai only: model name → deployment name (default: the model name itself). */
    deployments: z.record(z.string().min(1), z.string().regex(/^[A-Za-z0-9._-]{1,64}$/)).optional(),
    headers: z.record(staticHeaderName, z.string().max(1024)).optional(),
    /**
     * openai-compatible only: ask streams for their usage (`stream_options.include_usage`), so
     * they are charged what the server reports rather than the reservation. Off by default: some
     * servers imitating the API refuse the field. `openai` is always asked; `azure-openai` where
     * its apiVersion takes the field.
     */
    streamUsage: z.boolean().optional(),
    /** anthropic only: `anthropic-beta` flags clients may use, beyond the built-in allowlist. */
    allowedBetas: z
      .array(z.string().regex(/^[a-z0-9][a-z0-9.-]{0,63}$/, 'a beta flag such as prompt-caching-2024-07-31'))
      .max(64)
      .default([]),
    /**
     * anthropic only: gated features clients may use (`anthropicFeatures`), with or without a
     * flag, every flag of theirs going on. A flag of one in `allowedBetas` allows it too.
     */
    allowedFeatures: z.array(z.enum(anthropicFeatures)).default([]),
    timeouts: timeoutsSchema.prefault({}),
    retries: retriesSchema.prefault({}),
    /** Connections kept per provider origin. */
    connections: z.number().int().min(1).max(1024).default(128),
    /** Keys older than this draw a warning and show in keyward_provider_key_age_seconds. */
    rotationDays: z.number().int().min(1).max(3650).default(90),
  })
  .superRefine((provider, ctx) => {
    if (provider.type === 'azure-openai' && !provider.apiVersion) {
      ctx.addIssue({ code: 'custom', path: ['apiVersion'], message: 'required for type azure-openai' });
    }
    // The adapter chooses fields by the version's date (stream_options came with 2024-09-01-preview).
    if (
      provider.type === 'azure-openai' &&
      provider.apiVersion &&
      !AZURE_API_VERSION.test(provider.apiVersion)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['apiVersion'],
        message: 'an Azure OpenAI api-version such as 2024-10-21 or 2025-04-01-preview',
      });
    }
    if (provider.type !== 'azure-openai' && (provider.apiVersion || provider.deployments)) {
      ctx.addIssue({ code: 'custom', path: ['apiVersion'], message: 'only allowed for type azure-openai' });
    }
    if (provider.type !== 'openai-compatible' && provider.streamUsage !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['streamUsage'],
        message: `only allowed for type openai-compatible (${STREAM_USAGE_ELSEWHERE[provider.type]}); remove it`,
      });
    }
    if (provider.type !== 'anthropic' && provider.allowedBetas.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['allowedBetas'], message: 'only allowed for type anthropic' });
    }
    if (provider.type !== 'anthropic' && provider.allowedFeatures.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['allowedFeatures'], message: 'only allowed for type anthropic' });
    }
    if (provider.type !== 'ollama' && provider.type !== 'openai-compatible' && !provider.keys) {
      ctx.addIssue({ code: 'custom', path: ['keys'], message: `required for type ${provider.type}` });
    }
  });

const modelTargetSchema = z.strictObject({
  provider: z.string().min(1),
  model: z.string().min(1).max(256),
});

const weightedTargetSchema = modelTargetSchema.extend({
  weight: z.number().int().min(1).max(1000).default(1),
});

/** Per-alias request parameters: defaults for what the client left out, caps on what it asked. */
const modelParamsSchema = z.strictObject({
  maxTokens: z
    .strictObject({
      default: z.number().int().min(1).optional(),
      /** Larger asks are lowered to this (a token's own `maxTokens` refuses instead). */
      max: z.number().int().min(1).optional(),
    })
    .optional(),
  temperature: z.strictObject({ default: z.number().min(0).max(2) }).optional(),
  ...aliasCeilingFields,
});

const modelSchema = z
  .strictObject({
    /** What clients send as `model`; a trailing `*` matches every name that starts with the rest. */
    name: z
      .string()
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\*?$/,
        'letters, digits, ".", "_", ":" or "-", optionally ending in "*"',
      ),
    provider: z.string().min(1).optional(),
    model: z.string().min(1).max(256).optional(),
    /** Instead of provider/model: several targets sharing the traffic by weight. */
    targets: z.array(weightedTargetSchema).min(1).max(16).optional(),
    fallbacks: z.array(modelTargetSchema).max(8).default([]),
    /** The whole exchange for this alias, retries and fallbacks included; default: the first provider's. */
    timeoutMs: millis(3_600_000).optional(),
    params: modelParamsSchema.optional(),
  })
  .superRefine((model, ctx) => {
    const direct = model.provider !== undefined || model.model !== undefined;
    if (direct === (model.targets !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['targets'],
        message: 'give either provider and model, or targets',
      });
    } else if (direct && (model.provider === undefined || model.model === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [model.provider === undefined ? 'provider' : 'model'],
        message: 'required with provider/model',
      });
    }
    const max = model.params?.maxTokens;
    if (max?.default !== undefined && max.max !== undefined && max.default > max.max) {
      ctx.addIssue({
        code: 'custom',
        path: ['params', 'maxTokens', 'default'],
        message: 'must not exceed max',
      });
    }
  });

const apiKeysSchema = z
  .strictObject({
    /** Environment variable holding comma-separated client keys. */
    env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
      .optional(),
    /** `sha256:<64 hex>` digests of client keys, as printed by `keyward auth hash-key`. */
    hashes: z
      .array(z.string().regex(/^sha256:[0-9a-f]{64}$/, 'sha256:<64 lowercase hex digits>'))
      .default([]),
  })
  .prefault({});

export const configSchema = z
  .strictObject({
    server: z
      .strictObject({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8088),
        /** Longest a client may take to send a whole request (headers and body): slow-client defence. */
        requestTimeoutMs: z.number().int().min(100).max(3_600_000).default(60_000),
        /** Longest a connection may take to send a complete request head (nothing sent counts). */
        headersTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
        /** A kept-alive connection idle for this long is closed. */
        keepAliveTimeoutMs: z.number().int().min(100).max(600_000).default(5_000),
        /** Open connections per listener; beyond it new connections are closed at once. */
        maxConnections: z.number().int().min(1).max(1_000_000).default(10_000),
        /** Open connections per client address (IPv6: per /64) per listener (trusted proxies exempt); beyond it 503. */
        maxConnectionsPerAddress: z.number().int().min(1).max(1_000_000).default(1_000),
        /** Largest accepted request body, bytes. */
        bodyLimit: z
          .number()
          .int()
          .min(1024)
          .max(512 * 1024 * 1024)
          .default(10 * 1024 * 1024),
        /**
         * Peers (IPs or CIDRs) whose X-Forwarded-For is believed: the client address is then the
         * right-most entry that is not one of them.
         */
        trustProxy: z.array(trustedProxy).default([]),
        /** Browsers: the exact origins allowed to call the data plane with cookies or bearer tokens. */
        cors: corsSchema,
        tls: tlsSchema,
      })
      .prefault({}),
    /** The embedded store (default `<data dir>/keyward.db`), or Postgres shared by several instances. */
    storage: z
      .strictObject({
        sqlite: z.strictObject({ path: z.string().min(1).optional() }).prefault({}),
        /** Keep the password out of the file: PGPASSWORD or ~/.pgpass are read when the url has none. */
        postgres: z
          .strictObject({
            url: z.url({ protocol: /^postgres(ql)?$/ }),
            poolSize: z.int().min(1).max(100).default(10),
            /** `true`: TLS verified against the system's CAs; `{ caFile }`: against that CA. */
            ssl: z
              .union([
                z.boolean(),
                z.strictObject({
                  caFile: z.string().min(1).optional(),
                  rejectUnauthorized: z.boolean().default(true),
                }),
              ])
              .default(false),
          })
          .optional(),
        /** Shared rate limits and budgets across instances (rateLimits.backend: redis). */
        redis: z.strictObject({ url: z.url({ protocol: /^rediss?$/ }) }).optional(),
      })
      .prefault({}),
    /** The master key file; default `<data dir>/master.key`. KEYWARD_MASTER_KEY or KEYWARD_MASTER_PASSPHRASE win. */
    masterKey: z.strictObject({ file: z.string().min(1).optional() }).prefault({}),
    admin: listenerSchema
      .extend({ port: listenerSchema.shape.port.default(8089), tls: tlsSchema })
      .prefault({}),
    auth: z
      .strictObject({
        apiKeys: apiKeysSchema,
        sessions: sessionsSchema,
        jwt: z
          .array(jwtIssuerSchema)
          .max(16)
          .default([])
          .superRefine((issuers, ctx) => {
            if (issuers.length < 2) return;
            issuers.forEach((issuer, index) => {
              if (issuer.userPrefix !== undefined) return;
              ctx.addIssue({
                code: 'custom',
                path: [index, 'userPrefix'],
                message:
                  'with several JWT issuers each needs userPrefix (say "idp1:" and "idp2:"): a subject is unique only within its issuer, and one issuer\'s user must not own another\'s conversations and budgets; give them the same prefix only if they issue the same user ids',
              });
            });
          }),
        guest: guestSchema,
      })
      .prefault({}),
    logging: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** `auto`: readable lines when standard output is a terminal, JSON lines otherwise. */
        format: z.enum(['auto', 'pretty', 'json']).default('auto'),
      })
      .prefault({}),
    limits: z
      .strictObject({
        /** Deepest nesting of objects/arrays accepted in a JSON body. */
        jsonDepth: z.number().int().min(4).max(1000).default(64),
        /** Longest array accepted anywhere in a JSON body (the schemas bound specific arrays tighter). */
        arrayItems: z.number().int().min(16).max(10_000_000).default(100_000),
        /**
         * Most values (object members and array items together) accepted in a JSON body, counted
         * before it is parsed: bounds the event loop's time on one body.
         */
        jsonValues: z.number().int().min(1_000).max(100_000_000).default(200_000),
      })
      .prefault({}),
    shutdown: z.strictObject({ graceMs: millis(3_600_000).default(30_000) }).prefault({}),
    rateLimits: rateLimitsSchema,
    ceilings: ceilingsSchema,
    budgets: budgetsSchema,
    pricing: pricingSchema,
    audit: auditSchema,
    alerts: alertsSchema,
    conversations: conversationsSchema,
    providers: z.array(providerSchema).default([]),
    models: z.array(modelSchema).default([]),
    /** Whitelisted prompt templates (read-only through the admin API; re-read on SIGHUP). */
    templates: z.array(templateSchema).max(1_000).default([]),
  })
  .superRefine((config, ctx) => {
    if (config.rateLimits.backend === 'redis' && !config.storage.redis) {
      ctx.addIssue({
        code: 'custom',
        path: ['storage', 'redis'],
        message: 'required when rateLimits.backend is redis',
      });
    }
    if (config.storage.postgres && config.storage.sqlite.path !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['storage', 'sqlite', 'path'],
        message: 'set storage.sqlite.path or storage.postgres, not both',
      });
    }
    const ids = uniqueValues(config.providers, 'providers', 'id', 'provider id', ctx);
    uniqueValues(config.models, 'models', 'name', 'model name', ctx);
    uniqueValues(config.templates, 'templates', 'name', 'template name', ctx);
    config.models.forEach((model, i) => {
      const references: Array<{ provider?: string; path: Array<string | number> }> = [
        { provider: model.provider, path: ['models', i, 'provider'] },
        ...(model.targets ?? []).map((t, j) => ({
          provider: t.provider,
          path: ['models', i, 'targets', j, 'provider'],
        })),
        ...model.fallbacks.map((t, j) => ({
          provider: t.provider,
          path: ['models', i, 'fallbacks', j, 'provider'],
        })),
      ];
      for (const { provider, path } of references) {
        if (provider !== undefined && !ids.has(provider)) {
          ctx.addIssue({
            code: 'custom',
            path,
            message: `unknown provider "${provider}" (not in providers)`,
          });
        }
      }
      // The client's own key goes to every passthrough target it may reach: one made for one
      // provider would be sent to another's (an OpenAI key to Google on a fallback). Only
      // `keys: { passthrough: true }` is given it: a provider with no `keys` block is sent no key.
      const passthrough = new Set(
        references
          .map(({ provider }) => config.providers.find((p) => p.id === provider))
          .filter((p) => p?.keys !== undefined && 'passthrough' in p.keys)
          .map((p) => p!.id),
      );
      if (passthrough.size > 1) {
        ctx.addIssue({
          code: 'custom',
          path: ['models', i],
          message: `uses the client's own provider key with several providers (${[...passthrough].join(', ')}): the key one client sends for one would go to the others; give each passthrough provider routes of its own`,
        });
      }
    });
    checkTemplateModels(config.templates, config.models, config.providers, ctx);
  })
  // Shared limits follow a shared store: configuring Redis is enough to stop limits multiplying.
  .transform((config) => ({
    ...config,
    rateLimits: {
      ...config.rateLimits,
      backend: config.rateLimits.backend ?? (config.storage.redis ? ('redis' as const) : ('memory' as const)),
    },
  }));

/** Reports every repeated `field` value in `items`; returns the set of values. */
function uniqueValues<K extends string, T extends Record<K, string>>(
  items: readonly T[],
  list: string,
  field: K,
  label: string,
  ctx: z.RefinementCtx,
): Set<string> {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    if (seen.has(item[field])) {
      ctx.addIssue({
        code: 'custom',
        path: [list, i, field],
        message: `duplicate ${label} "${item[field]}"`,
      });
    }
    seen.add(item[field]);
  });
  return seen;
}

/**
 * Reports each template whose model routes nowhere: a client holding only the template could not
 * fix that by naming another model. A name routes as the router resolves it: an alias, then
 * `provider/model` of a configured provider, then a wildcard alias's prefix (an alias that is
 * itself broken is reported above, not again here).
 */
function checkTemplateModels(
  templates: ReadonlyArray<{ model: string }>,
  models: ReadonlyArray<{ name: string }>,
  providers: ReadonlyArray<{ id: string }>,
  ctx: z.RefinementCtx,
): void {
  const ids = new Set(providers.map((p) => p.id));
  const aliases = models.filter((m) => !m.name.endsWith('*')).map((m) => m.name);
  const wildcards = models.filter((m) => m.name.endsWith('*')).map((m) => m.name);
  const routes = (model: string): boolean => {
    if (aliases.includes(model)) return true;
    const slash = model.indexOf('/');
    const named = model.slice(slash + 1);
    if (slash > 0 && ids.has(model.slice(0, slash))) return named !== '' && named !== '.' && named !== '..';
    return wildcards.some((w) => model.startsWith(w.slice(0, -1)) && model.length >= w.length);
  };
  const some = (names: string[]) => `${names.slice(0, 8).join(', ')}${names.length > 8 ? ', …' : ''}`;
  const ways = [
    `an alias from models${aliases.length > 0 ? ` (${some(aliases)})` : ''}`,
    `provider/model with a provider from providers${ids.size > 0 ? ` (${some([...ids])})` : ''}`,
    ...(wildcards.length > 0 ? [`a name matching ${some(wildcards)}`] : []),
  ];
  templates.forEach(({ model }, i) => {
    if (routes(model)) return;
    const slash = model.indexOf('/');
    const close = closeSpelling(model, aliases);
    ctx.addIssue({
      code: 'custom',
      path: ['templates', i, 'model'],
      message:
        slash > 0 &&
        !ids.has(model.slice(0, slash)) &&
        !wildcards.some((w) => model.startsWith(w.slice(0, -1)))
          ? `"${model}" names the provider "${model.slice(0, slash)}", which is not in providers (${some([...ids]) || 'none'})`
          : `"${model}" routes nowhere${close ? ` (did you mean ${close}?)` : ''}; name ${ways.join(', or ')}`,
    });
  });
}

/** The configuration file as written by a user. */
export type ConfigInput = z.input<typeof configSchema>;
/** The configuration with every default filled in. */
export type Config = z.output<typeof configSchema>;
export type ProviderConfig = Config['providers'][number];
export type ModelConfig = Config['models'][number];
