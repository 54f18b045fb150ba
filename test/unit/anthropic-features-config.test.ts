import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';

function load(providers: string) {
  const file = join(mkdtempSync(join(tmpdir(), 'keyward-config-')), 'keyward.yaml');
  writeFileSync(file, `providers:\n${providers}`);
  return loadConfig({ file, env: { K: 'sk-0123456789abcdef0123' } });
}

function problemsOf(providers: string): string[] {
  try {
    load(providers);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

const ANTHROPIC = 'id: an, type: anthropic, baseUrl: "https://api.anthropic.com/v1", keys: { env: K }';

describe('allowedFeatures in a provider block', () => {
  it('is taken by anthropic providers, and allows nothing by default', () => {
    const { config } = load(`
  - { ${ANTHROPIC}, allowedFeatures: [mcp, threads, code-execution] }
  - { id: an2, type: anthropic, baseUrl: "https://api.anthropic.com/v1", keys: { env: K } }
`);
    expect(config.providers.map((provider) => provider.allowedFeatures)).toEqual([
      ['mcp', 'threads', 'code-execution'],
      [],
    ]);
  });

  it('refuses a feature it does not know, listing those it does', () => {
    expect(problemsOf(`  - { ${ANTHROPIC}, allowedFeatures: [mcp, mcp-client-2025-11-20] }\n`)).toEqual([
      'providers[0].allowedFeatures[1]: expected one of "advisor", "billing-policy", "code-execution", "compaction", "files", "mcp", "skills", "threads"',
    ]);
  });

  it('refuses it on other types', () => {
    expect(
      problemsOf(
        `  - { id: oa, type: openai, baseUrl: "https://api.openai.com/v1", keys: { env: K }, allowedFeatures: [mcp] }\n`,
      ),
    ).toEqual(['providers[0].allowedFeatures: only allowed for type anthropic']);
  });
});
