import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { applyRouteParams, Router } from '../../src/routing/index.js';
import { WeightedRotation } from '../../src/routing/weighted.js';

const providers = new Map(['a', 'b', 'c'].map((id) => [id, { id }]));
const provider = (id: string) => ({
  id,
  type: 'openai',
  baseUrl: 'https://example.com/v1',
  keys: { env: 'K' },
});

function router(models: unknown[]) {
  const config = configSchema.parse({ providers: ['a', 'b', 'c'].map(provider), models });
  return new Router(config.models, providers);
}

describe('weighted rotation', () => {
  it('picks each item its weight’s share of every window, spread out, and lists the rest after it', () => {
    const rotation = new WeightedRotation([
      { item: 'a', weight: 3 },
      { item: 'b', weight: 1 },
      { item: 'c', weight: 1 },
    ]);
    const firsts = Array.from({ length: 10 }, () => rotation.order());
    expect(firsts.map((order) => order[0]).join('')).toBe('abacaabaca');
    for (const order of firsts) expect([...order].sort()).toEqual(['a', 'b', 'c']);
    expect(firsts[1]).toEqual(['b', 'a', 'c']);
  });
});

describe('router', () => {
  it('balances an alias across weighted targets, then falls back in order', () => {
    const r = router([
      {
        name: 'mix',
        targets: [
          { provider: 'a', model: 'm1', weight: 1 },
          { provider: 'b', model: 'm2', weight: 1 },
        ],
        fallbacks: [{ provider: 'c', model: 'm3' }],
      },
    ]);
    const orders = [r.resolve('mix'), r.resolve('mix')].map((route) =>
      route!.targets.map((t) => `${t.provider.id}/${t.model}`),
    );
    expect(orders).toEqual([
      ['a/m1', 'b/m2', 'c/m3'],
      ['b/m2', 'a/m1', 'c/m3'],
    ]);
  });

  it('routes no provider/model whose model is a dot segment, which a URL path would resolve', () => {
    const r = router([]);
    expect(r.resolve('b/..')).toBeUndefined();
    expect(r.resolve('b/.')).toBeUndefined();
    expect(r.resolve('b/...')).toMatchObject({ targets: [{ model: '...' }] });
  });

  it('looks a route up without taking a turn of its rotation', () => {
    const r = router([
      {
        name: 'mix',
        targets: [
          { provider: 'a', model: 'm1', weight: 1 },
          { provider: 'b', model: 'm2', weight: 1 },
        ],
      },
    ]);
    const ids = (route: ReturnType<typeof r.resolve>) => route!.targets.map((t) => t.provider.id);
    expect(ids(r.peek('mix'))).toEqual(['a', 'b']);
    expect(ids(r.peek('mix'))).toEqual(['a', 'b']);
    expect(ids(r.resolve('mix'))).toEqual(['a', 'b']);
    expect(ids(r.resolve('mix'))).toEqual(['b', 'a']);
  });

  it('carries the alias timeout and parameter policy; provider/model names have neither', () => {
    const r = router([
      {
        name: 'fast',
        provider: 'a',
        model: 'm',
        timeoutMs: 5000,
        params: { maxTokens: { default: 256, max: 1024 } },
      },
    ]);
    expect(r.resolve('fast')).toMatchObject({
      timeoutMs: 5000,
      params: { maxTokens: { default: 256, max: 1024 } },
    });
    expect(r.resolve('b/anything')).toEqual({
      name: 'b/anything',
      targets: [{ provider: { id: 'b' }, model: 'anything' }],
    });
    expect(r.resolve('nope/x')).toBeUndefined();
    expect(r.listAliases()).toEqual([{ name: 'fast', provider: 'a' }]);
  });

  it("routes a wildcard alias's names under their own name, the longest prefix first, after exact names", () => {
    const r = router([
      { name: 'claude-*', provider: 'a', model: '*', fallbacks: [{ provider: 'c', model: '*' }] },
      { name: 'claude-haiku-*', provider: 'b', model: '*' },
      { name: 'claude-special', provider: 'c', model: 'pinned' },
    ]);
    const targets = (name: string) => r.resolve(name)?.targets.map((t) => `${t.provider.id}/${t.model}`);
    expect(targets('claude-sonnet-4-5')).toEqual(['a/claude-sonnet-4-5', 'c/claude-sonnet-4-5']);
    expect(r.resolve('claude-sonnet-4-5')?.name).toBe('claude-sonnet-4-5');
    expect(targets('claude-haiku-4-5')).toEqual(['b/claude-haiku-4-5']);
    expect(targets('claude-special')).toEqual(['c/pinned']);
    expect(targets('claude-')).toBeUndefined();
    expect(targets('gpt-4o')).toBeUndefined();
    expect(r.listAliases()).toEqual([{ name: 'claude-special', provider: 'c' }]);
  });

  it('refuses an alias with both provider/model and targets, or neither, or an unknown target provider', () => {
    const problems = (model: unknown) => {
      const result = configSchema.safeParse({ providers: ['a'].map(provider), models: [model] });
      return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(
      problems({ name: 'x', provider: 'a', model: 'm', targets: [{ provider: 'a', model: 'm' }] }),
    ).toEqual(['models.0.targets: give either provider and model, or targets']);
    expect(problems({ name: 'x' })).toEqual(['models.0.targets: give either provider and model, or targets']);
    expect(problems({ name: 'x', provider: 'a' })).toEqual(['models.0.model: required with provider/model']);
    expect(problems({ name: 'x', targets: [{ provider: 'zz', model: 'm' }] })).toEqual([
      'models.0.targets.0.provider: unknown provider "zz" (not in providers)',
    ]);
    expect(
      problems({ name: 'x', provider: 'a', model: 'm', params: { maxTokens: { default: 9, max: 8 } } }),
    ).toEqual(['models.0.params.maxTokens.default: must not exceed max']);
  });
});

describe('alias parameter policy', () => {
  it('fills a missing temperature and keeps one the client sent', () => {
    const body = { model: 'x' };
    expect(applyRouteParams(body, { temperature: { default: 0.2 } })).toEqual({
      model: 'x',
      temperature: 0.2,
    });
    expect(body).toEqual({ model: 'x' });
    const within = { max_tokens: 10, temperature: 0 };
    expect(applyRouteParams(within, { temperature: { default: 1 } })).toBe(within);
  });
});
