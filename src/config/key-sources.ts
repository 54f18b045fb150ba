import { z } from 'zod';

/**
 * Where a provider's keys come from: exactly one block per provider. External sources refresh on
 * an interval (and on demand); a failed refresh keeps the keys loaded last.
 */

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');
const refreshSeconds = z.number().int().min(10).max(86_400).default(300);
/** How long one read of the keys may take: past it the read is aborted and counts as a failed one. */
const timeoutSeconds = z.number().int().min(1).max(300).default(15);

/** `{ a: A } | { b: B } | …`: one member of T alone. */
type OneOf<T> = { [K in keyof T]: { [P in K]: T[P] } }[keyof T];

const listed = (names: readonly string[], last = 'or') =>
  names.length > 1 ? `${names.slice(0, -1).join(', ')} ${last} ${names.at(-1)}` : (names[0] ?? '');

/**
 * An object holding exactly one of `blocks`, such as `{ env: VAR }`. A union of one-key objects
 * reported any mistake as the union's "Invalid input"; parsed as one object, a block's own problem
 * keeps its path (`keys.vault.auth`), a misspelled block name is an unknown key with its likely
 * spelling, and none or several blocks are named with the blocks allowed.
 */
function oneBlockOf<const T extends z.core.$ZodShape>(blocks: T) {
  const names = Object.keys(blocks);
  return z
    .strictObject(blocks)
    .partial()
    .superRefine(
      (value, ctx) => {
        const present = names.filter((name) => Object.hasOwn(value, name));
        if (present.length === 1) return;
        ctx.addIssue({
          code: 'custom',
          message:
            present.length === 0
              ? `needs one block: ${listed(names)}`
              : `holds ${listed(present, 'and')}: keep one of ${listed(names)}`,
        });
      },
      // Also when a block failed or a name is unknown: the blocks allowed are then worth listing.
      { when: ({ value }) => typeof value === 'object' && value !== null && !Array.isArray(value) },
    )
    .transform((value) => value as OneOf<{ -readonly [K in keyof T]: z.output<T[K]> }>);
}

export const vaultSourceSchema = z.strictObject({
  /** Vault's address, such as https://vault.example.com:8200. */
  address: z.url({ protocol: /^https?$/ }),
  /** Vault Enterprise namespace (sent as X-Vault-Namespace). */
  namespace: z.string().min(1).max(256).optional(),
  /** Mount path of the KV version 2 engine. */
  mount: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/)
    .default('secret'),
  /** Secret path inside the mount. */
  path: z.string().regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/),
  /** Field of the secret's data holding the key (several keys comma-separated). */
  field: z.string().min(1).max(256).default('api_key'),
  // Absent, it is reported as a block missing, naming the two.
  auth: oneBlockOf({
    token: z.strictObject({ env: envName.default('VAULT_TOKEN') }),
    approle: z.strictObject({
      mount: z
        .string()
        .regex(/^[A-Za-z0-9_.-]+$/)
        .default('approle'),
      roleIdEnv: envName.default('VAULT_ROLE_ID'),
      secretIdEnv: envName.default('VAULT_SECRET_ID'),
    }),
  }).prefault({}),
  /** PEM file of the CA that signed Vault's certificate, when it is private. */
  caFile: z.string().min(1).optional(),
  refreshSeconds,
  timeoutSeconds,
});

export const awsSourceSchema = z.strictObject({
  region: z.string().regex(/^[a-z0-9-]{2,32}$/),
  /** Secret name or ARN. */
  secretId: z.string().min(1).max(2048),
  /** When the secret string is JSON: the field holding the key. Otherwise the whole string is the key. */
  field: z.string().min(1).max(256).optional(),
  /** A VPC endpoint or other Secrets Manager endpoint; default: the region's public endpoint. */
  endpoint: z.url({ protocol: /^https?$/ }).optional(),
  refreshSeconds,
  timeoutSeconds,
});

export const azureSourceSchema = z.strictObject({
  /** The vault's URL, such as https://my-vault.vault.azure.net. */
  vaultUrl: z.url({ protocol: /^https$/ }),
  secretName: z.string().regex(/^[0-9A-Za-z-]{1,127}$/),
  /** A specific version; default: the latest. */
  version: z
    .string()
    .regex(/^[0-9A-Za-z]{1,64}$/)
    .optional(),
  refreshSeconds,
  timeoutSeconds,
});

export const keyringSourceSchema = z.strictObject({
  service: z.string().min(1).max(256).default('keyward'),
  account: z.string().min(1).max(256),
  refreshSeconds,
  timeoutSeconds,
});

export const providerKeysSchema = oneBlockOf({
  /** One key or several comma-separated ones, plain or `enc:` sealed with the master key. */
  env: envName,
  /** Keys written in the file: `enc:` values only, so that no plaintext key sits in a config file. */
  values: z
    .array(z.string().regex(/^enc:kw1:/, 'an enc:kw1:… value from `keyward keys encrypt`'))
    .min(1)
    .max(64),
  /** Keys managed with `keyward keys` and `/admin/keys`, encrypted in the embedded store. */
  store: z.literal(true),
  vault: vaultSourceSchema,
  aws: awsSourceSchema,
  azure: azureSourceSchema,
  keyring: keyringSourceSchema,
  /** The client sends its own provider key in `x-provider-api-key`; nothing is stored. */
  passthrough: z.literal(true),
});

export type VaultSourceConfig = z.output<typeof vaultSourceSchema>;
export type AwsSourceConfig = z.output<typeof awsSourceSchema>;
export type AzureSourceConfig = z.output<typeof azureSourceSchema>;
export type KeyringSourceConfig = z.output<typeof keyringSourceSchema>;
export type ProviderKeysConfig = z.output<typeof providerKeysSchema>;
