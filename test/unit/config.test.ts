import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';

function writeConfig(text: string, name = 'keyward.yaml'): string {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-config-'));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

const minimal = `
providers:
  - id: openai
    type: openai
    baseUrl: https://api.openai.com/v1
    keys: { env: OPENAI_API_KEY }
models:
  - { name: fast, provider: openai, model: gpt-4o-mini }
`;

describe('configuration', () => {
  it('fills in the documented defaults', () => {
    const { config } = loadConfig({ file: writeConfig(minimal), env: {} });
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 8088, bodyLimit: 10 * 1024 * 1024 });
    expect(config.admin).toEqual({ host: '127.0.0.1', port: 8089 });
    expect(config.providers[0]?.timeouts).toEqual({
      connectMs: 5000,
      firstByteMs: 60000,
      idleMs: 60000,
      totalMs: 600000,
    });
    expect(config.providers[0]?.retries).toEqual({ maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 10000 });
    expect(config.models[0]?.fallbacks).toEqual([]);
  });

  it('accepts JSON as well as YAML', () => {
    const json = JSON.stringify({ server: { port: 9000 } });
    expect(loadConfig({ file: writeConfig(json, 'keyward.json'), env: {} }).config.server.port).toBe(9000);
  });

  it("fetches a JWT issuer's keys over https only, or plain http on loopback", () => {
    const issuer = (url: string) =>
      writeConfig(
        `${minimal}\nauth:\n  jwt:\n    - { issuer: https://idp.test, audience: kw, jwksUrl: "${url}" }\n`,
      );
    expect(
      problemsOf(() => loadConfig({ file: issuer('http://idp.example.com/jwks.json'), env: {} })),
    ).toEqual([
      'auth.jwt[0].jwksUrl: expected an https URL (plain http only on loopback: anyone on the way could serve keys that forge any user)',
    ]);
    for (const url of [
      'https://idp.example.com/jwks.json',
      'http://127.0.0.1:9000/jwks',
      'http://[::1]:9000/jwks',
      'http://localhost/jwks',
    ]) {
      expect(loadConfig({ file: issuer(url), env: {} }).config.auth.jwt[0]?.jwksUrl).toBe(url);
    }
  });

  it('asks every one of several JWT issuers for a userPrefix, so that their subjects stay apart', () => {
    const issuers = (...prefixes: (string | undefined)[]) =>
      writeConfig(
        `${minimal}\nauth:\n  jwt:\n${prefixes
          .map(
            (prefix, i) =>
              `    - { issuer: https://idp${i}.test, audience: kw, jwksUrl: "https://idp${i}.test/jwks"${prefix === undefined ? '' : `, userPrefix: "${prefix}"`} }\n`,
          )
          .join('')}`,
      );
    expect(problemsOf(() => loadConfig({ file: issuers('a:', undefined), env: {} }))).toEqual([
      expect.stringMatching(/^auth\.jwt\[1\]\.userPrefix: with several JWT issuers each needs userPrefix/),
    ]);
    const apart = loadConfig({ file: issuers('a:', 'b:'), env: {} }).config.auth.jwt;
    expect(apart.map((issuer) => issuer.userPrefix)).toEqual(['a:', 'b:']);
    // The same prefix, even none, is a statement that both issue the same user ids.
    expect(loadConfig({ file: issuers('', ''), env: {} }).config.auth.jwt).toHaveLength(2);
    expect(loadConfig({ file: issuers(undefined), env: {} }).config.auth.jwt[0]?.userPrefix).toBeUndefined();
  });

  it('gives guests granted templates the templates scope alone, unless their scopes say more', () => {
    const guest = (extra: string) =>
      loadConfig({
        file: writeConfig(`${minimal}\nauth:\n  guest: { enabled: true, limits: { rpm: 5 }${extra} }\n`),
        env: {},
      }).config.auth.guest.scopes;
    expect(guest('')).toEqual(['models:read', 'chat']);
    expect(guest(', templates: [summarize]')).toEqual(['templates']);
    expect(guest(', templates: [summarize], scopes: [templates, chat]')).toEqual(['templates', 'chat']);
  });

  it('rejects unknown keys, naming their path and the key a slip most likely meant', () => {
    const file = writeConfig(`${minimal}\nserver: { port: 1, hots: x, colour: red }\nmodles: []\n`);
    expect(problemsOf(() => loadConfig({ file, env: {} }))).toEqual([
      'server.hots: unknown key (did you mean host?); server.colour: unknown key',
      'modles: unknown key (did you mean models?)',
    ]);
  });

  it('names the path and the expectation of every wrong value', () => {
    const file = writeConfig(`
server: { port: "eighty" }
providers:
  - { id: Bad Id, type: openai-ish, baseUrl: "ftp://x" }
models:
  - { name: m, provider: nowhere, model: x }
`);
    const problems = problemsOf(() => loadConfig({ file, env: {} }));
    expect(problems).toContain('server.port: expected number');
    expect(problems.some((p) => p.startsWith('providers[0].id:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('providers[0].type: expected one of "openai"'))).toBe(true);
    expect(problems.some((p) => p.startsWith('providers[0].baseUrl:'))).toBe(true);
  });

  it("gives an integer's own bound, not the safe-integer range zod adds to every integer", () => {
    const file = writeConfig(`${minimal}\nserver: { port: 1e16 }\n`);
    expect(problemsOf(() => loadConfig({ file, env: {} }))).toEqual([
      'server.port: Too big: expected number to be <=65535',
    ]);
  });

  it('checks references and cross-field rules', () => {
    const file = writeConfig(`
providers:
  - { id: az, type: azure-openai, baseUrl: "https://r.openai.azure.com/openai", keys: { env: AZ } }
  - { id: az, type: openai, baseUrl: "https://api.openai.com/v1" }
models:
  - { name: m, provider: nowhere, model: x, fallbacks: [ { provider: gone, model: y } ] }
  - { name: m, provider: az, model: z }
`);
    const problems = problemsOf(() => loadConfig({ file, env: {} }));
    expect(problems).toEqual(
      expect.arrayContaining([
        'providers[0].apiVersion: required for type azure-openai',
        'providers[1].keys: required for type openai',
        'providers[1].id: duplicate provider id "az"',
        'models[0].provider: unknown provider "nowhere" (not in providers)',
        'models[0].fallbacks[0].provider: unknown provider "gone" (not in providers)',
        'models[1].name: duplicate model name "m"',
      ]),
    );
  });

  it("refuses a route that would send the client's own key to more than one provider", () => {
    const file = writeConfig(`
providers:
  - { id: oa, type: openai, baseUrl: "https://api.openai.com/v1", keys: { passthrough: true } }
  - { id: gm, type: gemini, baseUrl: "https://generativelanguage.googleapis.com", keys: { passthrough: true } }
  - { id: mine, type: openai, baseUrl: "https://api.openai.com/v1", keys: { env: OA } }
models:
  - { name: mixed, provider: oa, model: gpt-4o, fallbacks: [ { provider: gm, model: gemini-2.5-flash } ] }
  - { name: own, provider: oa, model: gpt-4o, fallbacks: [ { provider: mine, model: gpt-4o } ] }
`);
    expect(problemsOf(() => loadConfig({ file, env: { OA: 'sk-0123456789abcdef0123' } }))).toEqual([
      "models[0]: uses the client's own provider key with several providers (oa, gm): the key one client sends for one would go to the others; give each passthrough provider routes of its own",
    ]);
  });

  it('reports malformed YAML and unreadable files without a stack trace', () => {
    expect(problemsOf(() => loadConfig({ file: writeConfig('server: [unclosed'), env: {} }))[0]).toMatch(
      /^not valid YAML: /,
    );
    expect(problemsOf(() => loadConfig({ file: '/nonexistent/keyward.yaml', env: {} }))).toEqual([
      'cannot read the file (ENOENT)',
    ]);
  });

  it('applies KEYWARD_HOST, KEYWARD_PORT and KEYWARD_ADMIN_PORT over the file', () => {
    const env = { KEYWARD_HOST: '0.0.0.0', KEYWARD_PORT: '9100', KEYWARD_ADMIN_PORT: '9101' };
    const { config } = loadConfig({ file: writeConfig(minimal), env });
    expect(config.server.host).toBe('0.0.0.0');
    expect(config.server.port).toBe(9100);
    expect(config.admin.port).toBe(9101);
    expect(problemsOf(() => loadConfig({ file: writeConfig(minimal), env: { KEYWARD_PORT: 'x' } }))).toEqual([
      'KEYWARD_PORT: expected a port number (0-65535)',
    ]);
  });

  it('finds the file through KEYWARD_CONFIG, then ./keyward.yaml', () => {
    const file = writeConfig('server: { port: 9200 }');
    expect(loadConfig({ env: { KEYWARD_CONFIG: file }, cwd: '/' }).config.server.port).toBe(9200);
    const dir = join(file, '..');
    expect(loadConfig({ env: {}, cwd: dir })).toMatchObject({ source: file });
  });

  it('without a file, configures providers from the usual environment variables', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'keyward-empty-'));
    const { config, source } = loadConfig({
      cwd,
      env: {
        OPENAI_API_KEY: 'sk-test-aaaaaaaaaaaa',
        ANTHROPIC_API_KEY: 'sk-ant-bbbbbbbbbbbb',
        GEMINI_API_KEY: 'AIzaccccccccccccccccccccc',
        GEMINI_BASE_URL: 'http://127.0.0.1:9',
        OLLAMA_BASE_URL: 'http://127.0.0.1:11434/',
      },
    });
    expect(source).toBe('environment');
    expect(config.auth.apiKeys.env).toBe('KEYWARD_API_KEY');
    expect(
      config.providers.map((p) => [
        p.id,
        p.type,
        p.baseUrl,
        p.keys && 'env' in p.keys ? p.keys.env : undefined,
      ]),
    ).toEqual([
      ['openai', 'openai', 'https://api.openai.com/v1', 'OPENAI_API_KEY'],
      ['anthropic', 'anthropic', 'https://api.anthropic.com/v1', 'ANTHROPIC_API_KEY'],
      ['gemini', 'gemini', 'http://127.0.0.1:9/v1beta', 'GEMINI_API_KEY'],
      ['ollama', 'ollama', 'http://127.0.0.1:11434', undefined],
    ]);
    // Bare Claude and Gemini names (what Claude Code and Gemini clients send) find their provider.
    expect(config.models.map((m) => [m.name, m.provider, m.model])).toEqual([
      ['claude-*', 'anthropic', '*'],
      ['gemini-*', 'gemini', '*'],
    ]);
  });

  it('never echoes a value in an error (it may be a secret)', () => {
    const file = writeConfig('server: { host: 12345678, port: "sk-canary-config-value" }');
    const problems = problemsOf(() => loadConfig({ file, env: {} }));
    expect(problems.join('\n')).not.toContain('sk-canary-config-value');
  });

  it('refuses a provider header asking for compressed answers, which the gateway cannot read', () => {
    const file = writeConfig(
      minimal.replace(
        'keys: { env: OPENAI_API_KEY }',
        'keys: { env: OPENAI_API_KEY }\n    headers: { Accept-Encoding: gzip }',
      ),
    );
    expect(problemsOf(() => loadConfig({ file, env: {} }))).toEqual([
      'providers[0].headers.Accept-Encoding: a header other than accept-encoding (the gateway asks for uncompressed answers, which it reads as they come)',
    ]);
  });

  it("refuses provider headers of the body's type and framing or the connection, which the gateway sets", () => {
    const file = writeConfig(
      minimal.replace(
        'keys: { env: OPENAI_API_KEY }',
        'keys: { env: OPENAI_API_KEY }\n    headers: { Content-Encoding: gzip, Transfer-Encoding: chunked, X-Team: research }',
      ),
    );
    const problems = problemsOf(() => loadConfig({ file, env: {} }));
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(
      /^providers\[0\]\.headers\.Content-Encoding: a header other than those of the body's type/,
    );
    expect(problems[1]).toMatch(/^providers\[0\]\.headers\.Transfer-Encoding: /);
  });

  it('refuses a trustProxy entry that is not an address, a CIDR or a named range', () => {
    const file = writeConfig(
      'server: { trustProxy: [10.0.0.5, 10.1.0.0/16, "::1", loopback, proxy.internal, 10.0.0.0/33] }',
    );
    expect(problemsOf(() => loadConfig({ file, env: {} }))).toEqual([
      'server.trustProxy[4]: an IP address or CIDR (10.0.0.0/8), or loopback, linklocal or uniquelocal',
      'server.trustProxy[5]: an IP address or CIDR (10.0.0.0/8), or loopback, linklocal or uniquelocal',
    ]);
  });

  it('takes a Postgres store with its defaults, and refuses it beside a SQLite path or with another scheme', () => {
    const { config } = loadConfig({
      file: writeConfig(`${minimal}storage: { postgres: { url: "postgres://kw@db.internal:5432/keyward" } }`),
      env: {},
    });
    expect(config.storage.postgres).toEqual({
      url: 'postgres://kw@db.internal:5432/keyward',
      poolSize: 10,
      ssl: false,
    });
    const both = writeConfig(
      `${minimal}storage: { sqlite: { path: a.db }, postgres: { url: "postgres://kw@db/keyward" } }`,
    );
    expect(problemsOf(() => loadConfig({ file: both, env: {} }))).toEqual([
      'storage.sqlite.path: set storage.sqlite.path or storage.postgres, not both',
    ]);
    const mysql = writeConfig(`${minimal}storage: { postgres: { url: "mysql://kw@db/keyward" } }`);
    expect(problemsOf(() => loadConfig({ file: mysql, env: {} }))[0]).toMatch(/^storage\.postgres\.url:/);
  });

  it('keeps rate limits in Redis whenever Redis is configured, unless told otherwise', () => {
    const backend = (yaml: string) =>
      loadConfig({ file: writeConfig(yaml), env: {} }).config.rateLimits.backend;
    expect(backend('server: {}')).toBe('memory');
    expect(backend('storage: { redis: { url: "redis://127.0.0.1:6379" } }')).toBe('redis');
    expect(
      backend(
        'storage: { redis: { url: "redis://127.0.0.1:6379" } }\nrateLimits: { backend: memory, perInstance: true }',
      ),
    ).toBe('memory');
  });
});
