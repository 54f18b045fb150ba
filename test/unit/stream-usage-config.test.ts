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

describe('streamUsage in a provider block', () => {
  it('is taken by openai-compatible providers and left unset by default', () => {
    const { config } = load(`
  - { id: vllm, type: openai-compatible, baseUrl: "http://127.0.0.1:8000/v1", streamUsage: true }
  - { id: lmstudio, type: openai-compatible, baseUrl: "http://127.0.0.1:1234/v1" }
`);
    expect(config.providers.map((provider) => provider.streamUsage)).toEqual([true, undefined]);
  });

  it('refuses a value that is not true or false, naming its path', () => {
    // YAML 1.2 reads `yes` as a string: a YAML 1.1 habit must not switch the setting silently.
    for (const value of ['yes', '"true"', '1']) {
      expect(
        problemsOf(
          `  - { id: vllm, type: openai-compatible, baseUrl: "http://h/v1", streamUsage: ${value} }\n`,
        ),
      ).toEqual(['providers[0].streamUsage: expected boolean']);
    }
  });

  it('refuses it on other types, saying why they need none', () => {
    expect(
      problemsOf(`
  - { id: oa, type: openai, baseUrl: "https://api.openai.com/v1", keys: { env: K }, streamUsage: false }
  - { id: an, type: anthropic, baseUrl: "https://api.anthropic.com/v1", keys: { env: K }, streamUsage: true }
`),
    ).toEqual([
      'providers[0].streamUsage: only allowed for type openai-compatible (openai is always asked for stream usage); remove it',
      'providers[1].streamUsage: only allowed for type openai-compatible (anthropic streams report usage unasked); remove it',
    ]);
  });
});
