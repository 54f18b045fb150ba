import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';

/** The problems `loadConfig` reports for a configuration file holding `text`. */
function problems(text: string): string[] {
  const file = join(mkdtempSync(join(tmpdir(), 'keyward-config-')), 'keyward.yaml');
  writeFileSync(file, text);
  try {
    loadConfig({ file, env: { OPENAI_API_KEY: 'sk-test-1234567890' } });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  return [];
}

const withKeys = (keys: string) =>
  `providers: [{ id: openai, type: openai, baseUrl: "https://api.openai.com/v1", keys: ${keys} }]\n`;

const BLOCKS = 'env, values, store, vault, aws, azure, keyring or passthrough';

describe("a provider's keys block", () => {
  it('reports the problem inside the block it names, at its own path', () => {
    expect(problems(withKeys('{ store: false }'))).toEqual(['providers[0].keys.store: expected true']);
    expect(problems(withKeys('{ passthrough: "yes" }'))).toEqual([
      'providers[0].keys.passthrough: expected true',
    ]);
    expect(problems(withKeys('{ values: ["sk-plain-key-12345"] }'))).toEqual([
      'providers[0].keys.values[0]: an enc:kw1:… value from `keyward keys encrypt`',
    ]);
    expect(problems(withKeys('{ aws: { region: us-east-1, secretID: foo } }'))).toEqual([
      'providers[0].keys.aws.secretId: expected string',
      'providers[0].keys.aws.secretID: unknown key (did you mean secretId?)',
    ]);
    expect(
      problems(withKeys('{ vault: { address: "https://vault.example.com:8200", path: openai } }')),
    ).toEqual(['providers[0].keys.vault.auth: needs one block: token or approle']);
    expect(
      problems(withKeys('{ vault: { address: "https://v.example.com", path: p, auth: { tokn: {} } } }')),
    ).toEqual([
      'providers[0].keys.vault.auth.tokn: unknown key (did you mean token?)',
      'providers[0].keys.vault.auth: needs one block: token or approle',
    ]);
  });

  it('names the blocks allowed when it holds none, several, or a misspelled one', () => {
    expect(problems(withKeys('{}'))).toEqual([`providers[0].keys: needs one block: ${BLOCKS}`]);
    expect(problems(withKeys('{ env: OPENAI_API_KEY, store: true }'))).toEqual([
      `providers[0].keys: holds env and store: keep one of ${BLOCKS}`,
    ]);
    expect(problems(withKeys('{ valuse: ["enc:kw1:x"] }'))).toEqual([
      'providers[0].keys.valuse: unknown key (did you mean values?)',
      `providers[0].keys: needs one block: ${BLOCKS}`,
    ]);
  });

  it('still reads every valid block as before', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'keyward-config-')), 'keyward.yaml');
    writeFileSync(
      file,
      withKeys('{ vault: { address: "https://v.example.com", path: p, auth: { approle: {} } } }'),
    );
    const { config } = loadConfig({ file, env: {} });
    expect(config.providers[0]?.keys).toEqual({
      vault: {
        address: 'https://v.example.com',
        path: 'p',
        mount: 'secret',
        field: 'api_key',
        auth: { approle: { mount: 'approle', roleIdEnv: 'VAULT_ROLE_ID', secretIdEnv: 'VAULT_SECRET_ID' } },
        refreshSeconds: 300,
        timeoutSeconds: 15,
      },
    });
    expect(problems(withKeys('{ env: OPENAI_API_KEY }'))).toEqual([]);
    expect(problems(withKeys('{ passthrough: true }'))).toEqual([]);
  });
});

describe("a template's model", () => {
  const file = (model: string) => `${withKeys('{ env: OPENAI_API_KEY }')}
models:
  - { name: fast, provider: openai, model: gpt-4o-mini }
  - { name: "claude-*", provider: openai, model: "*" }
templates:
  - { name: t, model: "${model}", messages: [{ role: user, content: Hi }] }
`;

  it('is refused at load when it routes nowhere, naming the ways that would', () => {
    expect(problems(file('nosuch'))).toEqual([
      'templates[0].model: "nosuch" routes nowhere; name an alias from models (fast), or provider/model with a provider from providers (openai), or a name matching claude-*',
    ]);
    expect(problems(file('fsat'))[0]).toContain('"fsat" routes nowhere (did you mean fast?)');
    expect(problems(file('anthropic/claude-sonnet-4'))).toEqual([
      'templates[0].model: "anthropic/claude-sonnet-4" names the provider "anthropic", which is not in providers (openai)',
    ]);
    expect(problems(file('openai/..'))[0]).toContain('"openai/.." routes nowhere');
  });

  it('is accepted as the router resolves it: an alias, provider/model, or a wildcard match', () => {
    for (const model of ['fast', 'openai/gpt-4o', 'claude-sonnet-4'])
      expect(problems(file(model))).toEqual([]);
  });

  it('is not reported again when the alias it names is itself refused', () => {
    const text = file('broken').replace(
      '  - { name: fast,',
      '  - { name: broken, provider: nowhere, model: m }\n  - { name: fast,',
    );
    expect(problems(text)).toEqual(['models[0].provider: unknown provider "nowhere" (not in providers)']);
  });
});
