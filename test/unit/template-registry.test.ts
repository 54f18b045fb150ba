import { describe, expect, it } from 'vitest';
import type { TemplateRecord, TemplateStore } from '../../src/store/index.js';
import { TemplateRegistry } from '../../src/templates/registry.js';

const record = (version: number, text: string): TemplateRecord => ({
  name: 'greet',
  version,
  definition: { model: 'fast', messages: [{ role: 'user', content: text }] },
  createdBy: 'admin',
  createdAt: version,
  deletedAt: null,
});

/**
 * A template store whose reads answer when the test says: what the store held when each read
 * began, released in any order.
 */
function heldStore() {
  let current: TemplateRecord[] = [];
  const pending: Array<() => void> = [];
  const store: TemplateStore = {
    latest: () => {
      const snapshot = current;
      return new Promise((resolve) => pending.push(() => resolve(snapshot)));
    },
    versions: async () => [],
    save: async () => {
      throw new Error('not used');
    },
    remove: async () => false,
  };
  return {
    store,
    pending,
    set(records: TemplateRecord[]) {
      current = records;
    },
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('template registry', () => {
  it('never lets an older read of the store replace a newer one', async () => {
    const held = heldStore();
    const registry = new TemplateRegistry(held.store, () => {});
    held.set([record(1, 'Hello v1')]);
    const first = registry.refresh();
    await settle();
    // A save lands while the first read is out; the poll and the save's own refresh both ask again.
    held.set([record(2, 'Hello v2')]);
    const second = registry.refresh();
    const third = registry.refresh();
    expect(third).toBe(second);
    await settle();
    // The later reads wait for the first: only one is out.
    expect(held.pending).toHaveLength(1);
    held.pending.shift()!();
    await first;
    await settle();
    expect(held.pending).toHaveLength(1);
    held.pending.shift()!();
    await second;
    expect(registry.get('greet')?.version).toBe(2);
  });

  it('reads again after a failed read', async () => {
    let fail = true;
    const store: TemplateStore = {
      latest: async () => {
        if (fail) throw new Error('store unreachable');
        return [record(3, 'Hello v3')];
      },
      versions: async () => [],
      save: async () => {
        throw new Error('not used');
      },
      remove: async () => false,
    };
    const registry = new TemplateRegistry(store, () => {});
    await expect(registry.refresh()).rejects.toThrow('store unreachable');
    fail = false;
    await registry.refresh();
    expect(registry.get('greet')?.version).toBe(3);
  });
});
