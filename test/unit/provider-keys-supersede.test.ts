/**
 * A refresh that ends after its source was replaced (SIGHUP) or closed writes nothing: a late read
 * of the old source put its keys over the new source's, and one at shutdown loaded keys for a
 * provider already closed.
 */
import { describe, expect, it } from 'vitest';
import { ProviderKeys } from '../../src/keys/provider-keys.js';
import { SecretString } from '../../src/keys/secret-string.js';
import type { KeySource, SourcedKey } from '../../src/keys/sources/types.js';

const key = (id: string, value: string): SourcedKey => ({ id, secret: new SecretString(value) });

/** A source whose loads answer when the test says, each with the keys given then. */
function heldSource(kind: string) {
  const waiting: Array<(keys: SourcedKey[]) => void> = [];
  let closed = 0;
  const source: KeySource = {
    kind,
    describe: `${kind} test`,
    load: () => new Promise<SourcedKey[]>((resolve) => waiting.push(resolve)),
    close: async () => {
      closed++;
    },
  };
  return {
    source,
    answer: (keys: SourcedKey[]) => waiting.shift()?.(keys),
    pending: () => waiting.length,
    closed: () => closed,
  };
}

function providerKeys(source: KeySource) {
  const failures: string[] = [];
  const keys = new ProviderKeys({
    provider: 'openai',
    source,
    rotationDays: 90,
    events: {
      loaded() {},
      refreshFailed: (_provider, _source, message) => failures.push(message),
      alert() {},
      warn() {},
    },
  });
  return { keys, failures };
}

const ids = (keys: ProviderKeys) => keys.pool.list().map((k) => k.id);
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('a refresh of a source no longer in use', () => {
  it('does not write the old source keys over the new source keys, and the refresh is of the new one', async () => {
    const old = heldSource('vault');
    const { keys, failures } = providerKeys(old.source);
    const loading = keys.loadOrThrow();
    old.answer([key('old#1', 'sk-old-aaaaaaaaaaaaaaaaaaaa')]);
    await loading;

    const refreshing = keys.refresh();
    const next = heldSource('aws');
    const replacing = keys.replaceSource(next.source);
    await tick();
    next.answer([key('new#1', 'sk-new-bbbbbbbbbbbbbbbbbbbb')]);
    expect(await replacing).toBe(true);
    expect(old.closed()).toBe(1);
    expect(ids(keys)).toEqual(['new#1']);

    // The old source's read ends now: its keys are not the provider's.
    old.answer([key('old#1', 'sk-old-aaaaaaaaaaaaaaaaaaaa')]);
    await tick();
    expect(ids(keys)).toEqual(['new#1']);
    expect(next.pending()).toBe(1);
    next.answer([key('new#2', 'sk-new-cccccccccccccccccccc')]);
    expect(await refreshing).toBe(true);
    expect(ids(keys)).toEqual(['new#2']);
    expect(failures).toEqual([]);
  });

  it('a refresh under way at close writes nothing, and close waits for it', async () => {
    const held = heldSource('vault');
    const { keys, failures } = providerKeys(held.source);
    const loading = keys.loadOrThrow();
    held.answer([key('a#1', 'sk-aaaaaaaaaaaaaaaaaaaaaaaa')]);
    await loading;

    const refreshing = keys.refresh();
    let closed = false;
    const closing = keys.close().then(() => {
      closed = true;
    });
    await tick();
    expect(closed).toBe(false);
    held.answer([key('b#1', 'sk-bbbbbbbbbbbbbbbbbbbbbbbb')]);
    await closing;
    expect(await refreshing).toBe(false);
    expect(ids(keys)).toEqual(['a#1']);
    expect(failures).toEqual([]);
    expect(await keys.refresh()).toBe(false);
    expect(held.pending()).toBe(0);
  });

  it('a source loaded by a reload that a close overtook is closed, not put in use', async () => {
    const old = heldSource('vault');
    const { keys } = providerKeys(old.source);
    const loading = keys.loadOrThrow();
    old.answer([key('old#1', 'sk-old-aaaaaaaaaaaaaaaaaaaa')]);
    await loading;
    const next = heldSource('aws');
    const replacing = keys.replaceSource(next.source);
    await keys.close();
    next.answer([key('new#1', 'sk-new-bbbbbbbbbbbbbbbbbbbb')]);
    expect(await replacing).toBe(false);
    expect(next.closed()).toBe(1);
    expect(ids(keys)).toEqual(['old#1']);
  });
});
