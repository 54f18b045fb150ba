/**
 * A keyring source refreshes every 300 s unless told otherwise, as vault, aws and azure do: without
 * an interval, a provider whose keyring was locked at start answered 503 for good, and a value
 * rotated in the keyring was never read. No keyring is needed: the interval is armed before any
 * load, and the loads themselves are covered by test/integration/source-keyring.test.ts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { providerKeysSchema } from '../../src/config/key-sources.js';
import { ProviderKeys } from '../../src/keys/provider-keys.js';
import { createKeySource } from '../../src/keys/sources/index.js';

function keyringSource(block: Record<string, unknown>) {
  return createKeySource(providerKeysSchema.parse({ keyring: block }), {
    provider: 'openai',
    env: {},
    masters: () => [],
    store: undefined,
    warn: () => {},
  });
}

afterEach(() => {
  vi.useRealTimers();
});

describe('a keyring source', () => {
  it('refreshes every 300 s by default, or every refreshSeconds', () => {
    expect(providerKeysSchema.parse({ keyring: { account: 'openai' } })).toEqual({
      keyring: { service: 'keyward', account: 'openai', refreshSeconds: 300, timeoutSeconds: 15 },
    });
    expect(keyringSource({ account: 'openai' }).refreshMs).toBe(300_000);
    expect(keyringSource({ account: 'openai', refreshSeconds: 60 }).refreshMs).toBe(60_000);
  });

  it("arms its provider's refresh timer", async () => {
    vi.useFakeTimers();
    const keys = new ProviderKeys({
      provider: 'openai',
      source: keyringSource({ account: 'openai' }),
      rotationDays: 90,
      events: { loaded() {}, refreshFailed() {}, alert() {}, warn() {} },
    });
    keys.start();
    expect(vi.getTimerCount()).toBe(1);
    await keys.close();
    expect(vi.getTimerCount()).toBe(0);
  });
});
