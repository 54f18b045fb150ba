import { describe, expect, it } from 'vitest';
import {
  LiveStats,
  MAX_CLIENT_MODELS,
  mergeLiveViews,
  OTHER_MODELS,
} from '../../src/observability/live-stats.js';

describe('live stats', () => {
  it('sums each second and gives its latency quantiles', () => {
    let now = 1_000_000;
    const live = new LiveStats(() => now);
    for (let ms = 1; ms <= 100; ms++) live.finished(200, ms, 10, 5);
    live.finished(404, 1, 0, 0);
    live.finished(502, 1, 0, 0);
    now += 1000;
    live.finished(200, 7, 3, 1);
    expect(live.view(0).seconds).toEqual([
      {
        t: 1000,
        requests: 102,
        clientErrors: 1,
        serverErrors: 1,
        tokens: 1000,
        costMicros: 500,
        p50Ms: 50,
        p99Ms: 99,
        byProvider: [],
        byModel: [],
      },
      {
        t: 1001,
        requests: 1,
        clientErrors: 0,
        serverErrors: 0,
        tokens: 3,
        costMicros: 1,
        p50Ms: 7,
        p99Ms: 7,
        byProvider: [],
        byModel: [],
      },
    ]);
  });

  it('keeps one hour: a second an hour later takes the old one’s slot', () => {
    let now = 5_000_000;
    const live = new LiveStats(() => now);
    live.finished(200, 1, 1, 0);
    now += 3_600_000;
    live.finished(200, 2, 2, 0);
    expect(live.view(0).seconds.map((s) => [s.t, s.tokens])).toEqual([[8600, 2]]);
  });

  it('samples latencies past 256 a second without growing', () => {
    const live = new LiveStats(() => 0);
    for (let i = 0; i < 10_000; i++) live.finished(200, i % 2 === 0 ? 1 : 1000, 0, 0);
    const [second] = live.view(0).seconds;
    expect(second!.requests).toBe(10_000);
    expect(second!.p99Ms).toBe(1000);
  });

  it('counts each second by provider and model, and sums the hour by each', () => {
    const live = new LiveStats(() => 7_000);
    live.finished(200, 1, 10, 3, { provider: 'oa', model: 'fast' });
    live.finished(502, 1, 0, 0, { provider: 'oa', model: 'fast' });
    live.finished(200, 1, 5, 1, { provider: 'an', model: 'smart' });
    live.finished(401, 1, 0, 0, { provider: undefined, model: undefined });
    const [second] = live.view(0).seconds;
    expect(second).toMatchObject({ byProvider: [2, 1], byModel: [2, 1] });
    expect(live.view(0)).toMatchObject({
      providers: [
        { name: 'oa', requests: 2, errors: 1, tokens: 10, costMicros: 3 },
        { name: 'an', requests: 1, errors: 0, tokens: 5, costMicros: 1 },
      ],
      models: [
        { name: 'fast', requests: 2, errors: 1, tokens: 10, costMicros: 3 },
        { name: 'smart', requests: 1, errors: 0, tokens: 5, costMicros: 1 },
      ],
    });
  });

  it('counts client-chosen model names past the cap as other, configured aliases by name always', () => {
    const now = 4_000_000;
    const live = new LiveStats(() => now);
    live.labelAliases((name) => name === 'fast');
    for (let i = 0; i < MAX_CLIENT_MODELS + 30; i++) {
      live.finished(404, 1, 0, 0, { provider: 'oa', model: `oa/made-up-${i}` });
    }
    live.finished(200, 1, 10, 3, { provider: 'oa', model: 'fast' });
    live.finished(200, 1, 0, 0, { provider: 'oa', model: 'oa/made-up-0' });
    const view = live.view(0);
    expect(view.models.map((group) => group.name).sort()).toEqual(
      [
        'fast',
        OTHER_MODELS,
        ...Array.from({ length: MAX_CLIENT_MODELS }, (_, i) => `oa/made-up-${i}`),
      ].sort(),
    );
    expect(view.models.find((group) => group.name === OTHER_MODELS)).toMatchObject({
      requests: 30,
      errors: 30,
    });
    expect(view.models.find((group) => group.name === 'oa/made-up-0')).toMatchObject({ requests: 2 });
    expect(view.models.reduce((sum, group) => sum + group.requests, 0)).toBe(MAX_CLIENT_MODELS + 32);
    expect(view.seconds[0]!.byModel.reduce((sum, count) => sum + count, 0)).toBe(MAX_CLIENT_MODELS + 32);
  });

  it('makes room for new names once the seconds holding the old ones leave the hour', () => {
    let now = 4_000_000;
    const live = new LiveStats(() => now);
    for (let i = 0; i < MAX_CLIENT_MODELS; i++)
      live.finished(404, 1, 0, 0, { provider: 'oa', model: `old-${i}` });
    now += 1000;
    live.finished(404, 1, 0, 0, { provider: 'oa', model: 'new-0' });
    expect(live.view(0).models.map((group) => group.name)).toContain(OTHER_MODELS);
    // Each old name was in one second only; a request in that second's slot an hour later drops them all.
    now += 3_599_000;
    live.finished(404, 1, 0, 0, { provider: 'oa', model: 'new-1' });
    expect(live.view(0).models.map((group) => group.name)).toEqual([OTHER_MODELS, 'new-1']);
  });

  it("merges workers' views: counts add up, p50 weighted by requests, p99 the highest", () => {
    let now = 9_000_000;
    const a = new LiveStats(() => now);
    const b = new LiveStats(() => now);
    for (let i = 0; i < 3; i++) a.finished(200, 10, 5, 2, { provider: 'oa', model: 'fast' });
    b.finished(500, 40, 1, 1, { provider: 'ob', model: 'fast' });
    now += 1000;
    b.finished(429, 2, 0, 0, { provider: 'ob', model: 'slow' });
    const merged = mergeLiveViews([a.view(2), b.view(1)]);
    expect(merged.inFlight).toBe(3);
    expect(merged.seconds).toEqual([
      {
        t: 9000,
        requests: 4,
        clientErrors: 0,
        serverErrors: 1,
        tokens: 16,
        costMicros: 7,
        p50Ms: (10 * 3 + 40) / 4,
        p99Ms: 40,
        byProvider: [3, 1],
        byModel: [4, 0],
      },
      {
        t: 9001,
        requests: 1,
        clientErrors: 1,
        serverErrors: 0,
        tokens: 0,
        costMicros: 0,
        p50Ms: 2,
        p99Ms: 2,
        byProvider: [0, 1],
        byModel: [0, 1],
      },
    ]);
    expect(merged.providers).toEqual([
      { name: 'oa', requests: 3, errors: 0, tokens: 15, costMicros: 6 },
      { name: 'ob', requests: 2, errors: 2, tokens: 1, costMicros: 1 },
    ]);
    expect(merged.models.map((group) => [group.name, group.requests])).toEqual([
      ['fast', 4],
      ['slow', 1],
    ]);
    expect(mergeLiveViews([a.view(0)])).toEqual(a.view(0));
  });

  it('merges a model named like an Object member as a count, in a second another worker had first', () => {
    const now = 9_000_000;
    const a = new LiveStats(() => now);
    const b = new LiveStats(() => now);
    a.finished(200, 10, 5, 2, { provider: 'oa', model: 'fast' });
    b.finished(200, 10, 5, 2, { provider: 'oa', model: 'constructor' });
    const merged = mergeLiveViews([a.view(0), b.view(0)]);
    expect(merged.models.map((group) => group.name)).toEqual(['fast', 'constructor']);
    expect(merged.seconds[0]!.byModel).toEqual([1, 1]);
  });
});
