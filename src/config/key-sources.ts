import { z } from 'zod';

/**
 * Where a provider's keys come from: exactly one block per provider. External sources refresh on
 * an interval (and on demand); a failed refresh keeps the keys loaded last.
 */

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');
const refreshSeconds = z.number().int().min(10).max(86_400).default(300);

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
  auth: z.union([
    z.strictObject({ token: z.strictObject({ env: envName.default('VAULT_TOKEN') }) }),
    z.strictObject({
      approle: z.strictObject({
        mount: z
          .string()
          .regex(/^[A-Za-z0-9_.-]+$/)
          .default('approle'),
        roleIdEnv: envName.default('VAULT_ROLE_ID'),
        secretIdEnv: envName.default('VAULT_SECRET_ID'),
      }),
    }),
  ]),
  /** PEM file of the CA that signed Vault's certificate, when it is private. */
  caFile: z.string().min(1).optional(),
  refreshSeconds,
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
});

export const keyringSourceSchema = z.strictObject({
  service: z.string().min(1).max(256).default('keyward'),
  account: z.string().min(1).max(256),
  refreshSeconds: z.number().int().min(10).max(86_400).optional(),
});

export const providerKeysSchema = z.union([
  /** One key or several comma-separated ones, plain or `enc:` sealed with the master key. */
  z.strictObject({ env: envName }),
  /** Keys written in the file: `enc:` values only, so that no plaintext key sits in a config file. */
  z.strictObject({
    values: z
      .array(z.string().regex(/^enc:kw1:/, 'an enc:kw1:… value from `keyward keys encrypt`'))
      .min(1)
      .max(64),
  }),
  /** Keys managed with `keyward keys` and `/admin/keys`, encrypted in the embedded store. */
  z.strictObject({ store: z.literal(true) }),
  z.strictObject({ vault: vaultSourceSchema }),
  z.strictObject({ aws: awsSourceSchema }),
  z.strictObject({ azure: azureSourceSchema }),
  z.strictObject({ keyring: keyringSourceSchema }),
  /** The client sends its own provider key in `x-provider-api-key`; nothing is stored. */
  z.strictObject({ passthrough: z.literal(true) }),
]);

export type VaultSourceConfig = z.output<typeof vaultSourceSchema>;
export type AwsSourceConfig = z.output<typeof awsSourceSchema>;
export type AzureSourceConfig = z.output<typeof azureSourceSchema>;
export type KeyringSourceConfig = z.output<typeof keyringSourceSchema>;
export type ProviderKeysConfig = z.output<typeof providerKeysSchema>;
