import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson, sealRecord, verifyChain } from '../../src/audit/index.js';
import { type AuditFixture, openFixture, rawRow, writeChain } from './support/fixture.js';

describe('audit chain', () => {
  let fx: AuditFixture;
  beforeEach(() => {
    fx = openFixture();
  });
  afterEach(async () => {
    await fx.close();
  });

  it('verifies a chain written in many batches, read in batches of another size', async () => {
    await writeChain(fx.store.audit, fx.key, 1234, 37);
    expect(await verifyChain(fx.store.audit, fx.key, { batch: 100 })).toEqual({
      ok: true,
      checked: 1234,
      lastSeq: 1234,
    });
    expect(await verifyChain(fx.store.audit, fx.key, { batch: 1 })).toMatchObject({
      ok: true,
      checked: 1234,
    });
  });

  it('verifies an empty chain', async () => {
    expect(await verifyChain(fx.store.audit, fx.key)).toEqual({ ok: true, checked: 0, lastSeq: 0 });
  });

  it.each([
    ['data', `UPDATE audit SET data = json_set(data, '$.requestId', 'req-forged') WHERE seq = ?`],
    ['a nested value', `UPDATE audit SET data = json_set(data, '$.nested.b[0]', 2) WHERE seq = ?`],
    ['type', `UPDATE audit SET type = 'token.revoked' WHERE seq = ?`],
    ['actor', `UPDATE audit SET actor = 'admin' WHERE seq = ?`],
    ['at', 'UPDATE audit SET at = at + 1 WHERE seq = ?'],
    ['prevMac', `UPDATE audit SET prev_mac = '${'1'.repeat(64)}' WHERE seq = ?`],
  ])('detects an edit of %s at its seq', async (_field, sql) => {
    await writeChain(fx.store.audit, fx.key, 300, 64);
    fx.tamper((db) => db.prepare(sql).run(123));
    const result = await verifyChain(fx.store.audit, fx.key, { batch: 50 });
    expect(result).toMatchObject({ ok: false, checked: 122, problem: { seq: 123, kind: 'edited' } });
  });

  it('detects a record whose data is no longer JSON', async () => {
    await writeChain(fx.store.audit, fx.key, 30);
    fx.tamper((db) => db.prepare(`UPDATE audit SET data = '{broken' WHERE seq = 17`).run());
    const result = await verifyChain(fx.store.audit, fx.key, { batch: 10 });
    expect(result).toMatchObject({ ok: false, checked: 16, problem: { seq: 17, kind: 'edited' } });
  });

  it('detects a deleted record in the middle', async () => {
    await writeChain(fx.store.audit, fx.key, 200);
    fx.tamper((db) => db.prepare('DELETE FROM audit WHERE seq IN (77, 78)').run());
    const result = await verifyChain(fx.store.audit, fx.key, { batch: 30 });
    expect(result).toMatchObject({ ok: false, checked: 76, problem: { seq: 77, kind: 'deleted' } });
  });

  it('detects a deleted first record', async () => {
    await writeChain(fx.store.audit, fx.key, 20);
    fx.tamper((db) => db.prepare('DELETE FROM audit WHERE seq = 1').run());
    const result = await verifyChain(fx.store.audit, fx.key);
    expect(result).toMatchObject({ ok: false, checked: 0, problem: { seq: 1, kind: 'deleted' } });
  });

  it('detects a deletion hidden by renumbering the records after it', async () => {
    await writeChain(fx.store.audit, fx.key, 60);
    fx.tamper((db) => {
      db.prepare('DELETE FROM audit WHERE seq = 40').run();
      // Ascending, one row at a time, so the primary key never collides.
      for (let seq = 41; seq <= 60; seq++)
        db.prepare('UPDATE audit SET seq = seq - 1 WHERE seq = ?').run(seq);
    });
    const result = await verifyChain(fx.store.audit, fx.key, { batch: 16 });
    expect(result).toMatchObject({ ok: false, checked: 39, problem: { seq: 40, kind: 'deleted' } });
  });

  it.each([
    ['every field but seq', ['at', 'type', 'actor', 'data', 'prev_mac', 'mac'], 20, 30],
    ['the content, keeping the chain fields', ['at', 'type', 'actor', 'data'], 20, 30],
    ['adjacent records', ['at', 'type', 'actor', 'data', 'prev_mac', 'mac'], 20, 21],
  ])('detects two records swapped (%s)', async (_how, columns, a, b) => {
    await writeChain(fx.store.audit, fx.key, 50);
    fx.tamper((db) => {
      const first = rawRow(db, a) as unknown as Record<string, unknown>;
      const second = rawRow(db, b) as unknown as Record<string, unknown>;
      const set = columns.map((column) => `${column} = @${column}`).join(', ');
      const update = db.prepare(`UPDATE audit SET ${set} WHERE seq = @seq`);
      const pick = (row: Record<string, unknown>, seq: number) =>
        Object.fromEntries([...columns.map((column) => [column, row[column]]), ['seq', seq]]);
      update.run(pick(second, a));
      update.run(pick(first, b));
    });
    const result = await verifyChain(fx.store.audit, fx.key, { batch: 7 });
    expect(result).toMatchObject({ ok: false, checked: a - 1, problem: { seq: a, kind: 'reordered' } });
  });

  it('cannot see a deleted tail alone, and reports it as truncated against the expected head', async () => {
    const written = await writeChain(fx.store.audit, fx.key, 100);
    const head = { seq: 100, mac: written[99]!.mac };
    expect(await verifyChain(fx.store.audit, fx.key, { expectedHead: head })).toMatchObject({ ok: true });
    fx.tamper((db) => db.prepare('DELETE FROM audit WHERE seq > 97').run());
    // The shortened chain is internally sound: only the head kept elsewhere shows the loss.
    expect(await verifyChain(fx.store.audit, fx.key)).toEqual({ ok: true, checked: 97, lastSeq: 97 });
    const result = await verifyChain(fx.store.audit, fx.key, { expectedHead: head });
    expect(result).toMatchObject({ ok: false, checked: 97, problem: { seq: 98, kind: 'truncated' } });
  });

  it('reports a truncated chain that has grown again past the expected head', async () => {
    const written = await writeChain(fx.store.audit, fx.key, 100);
    const head = { seq: 100, mac: written[99]!.mac };
    fx.tamper((db) => db.prepare('DELETE FROM audit WHERE seq > 95').run());
    await writeChain(fx.store.audit, fx.key, 10, 10, 500);
    const result = await verifyChain(fx.store.audit, fx.key, { expectedHead: head });
    expect(result).toMatchObject({ ok: false, checked: 99, problem: { seq: 100, kind: 'truncated' } });
  });

  it('accepts a chain that has grown past the expected head', async () => {
    const written = await writeChain(fx.store.audit, fx.key, 40);
    await writeChain(fx.store.audit, fx.key, 40, 10, 41);
    const result = await verifyChain(fx.store.audit, fx.key, {
      expectedHead: { seq: 40, mac: written[39]!.mac },
    });
    expect(result).toEqual({ ok: true, checked: 80, lastSeq: 80 });
  });

  it('reports an edited last record as edited when the expected head names it', async () => {
    const written = await writeChain(fx.store.audit, fx.key, 10);
    fx.tamper((db) => db.prepare(`UPDATE audit SET actor = 'admin' WHERE seq = 10`).run());
    expect(await verifyChain(fx.store.audit, fx.key)).toMatchObject({
      ok: false,
      problem: { kind: 'forged' },
    });
    const result = await verifyChain(fx.store.audit, fx.key, {
      expectedHead: { seq: 10, mac: written[9]!.mac },
    });
    expect(result).toMatchObject({ ok: false, problem: { seq: 10, kind: 'edited' } });
  });

  it('detects a chain sealed with another master key', async () => {
    const otherKey = randomBytes(32);
    await writeChain(fx.store.audit, otherKey, 120, 25);
    const result = await verifyChain(fx.store.audit, fx.key, { batch: 40 });
    expect(result).toMatchObject({ ok: false, checked: 0, problem: { seq: 1, kind: 'forged' } });
  });

  it('detects a record appended, or re-sealed in place, with another master key', async () => {
    const otherKey = randomBytes(32);
    await writeChain(fx.store.audit, fx.key, 30);
    await writeChain(fx.store.audit, otherKey, 1, 1, 31);
    expect(await verifyChain(fx.store.audit, fx.key)).toMatchObject({
      ok: false,
      checked: 30,
      problem: { seq: 31, kind: 'forged' },
    });
    fx.tamper((db) => {
      const row = rawRow(db, 12);
      const data = JSON.stringify({ ...JSON.parse(row.data), requestId: 'req-forged' });
      const record = { ...row, prevMac: row.prev_mac, data: JSON.parse(data) as Record<string, unknown> };
      db.prepare('UPDATE audit SET data = ?, mac = ? WHERE seq = 12').run(data, sealRecord(otherKey, record));
    });
    expect(await verifyChain(fx.store.audit, fx.key)).toMatchObject({
      ok: false,
      problem: { seq: 12, kind: 'forged' },
    });
  });

  it('detects a genuine record spliced in from another chain sealed with the same key', async () => {
    const other = openFixture();
    try {
      await writeChain(other.store.audit, fx.key, 20, 20, 1000);
      await writeChain(fx.store.audit, fx.key, 20);
      const foreign = other.connect();
      const [spliced] = await foreign.audit.list({ afterSeq: 9, limit: 1 });
      fx.tamper((db) =>
        db
          .prepare(
            'UPDATE audit SET at = ?, type = ?, actor = ?, data = ?, prev_mac = ?, mac = ? WHERE seq = 10',
          )
          .run(
            spliced!.at,
            spliced!.type,
            spliced!.actor,
            JSON.stringify(spliced!.data),
            spliced!.prevMac,
            spliced!.mac,
          ),
      );
      expect(await verifyChain(fx.store.audit, fx.key)).toMatchObject({
        ok: false,
        checked: 9,
        problem: { seq: 10, kind: 'forged' },
      });
    } finally {
      await other.close();
    }
  });

  it('still verifies when the stored data comes back with its keys in another order', async () => {
    await writeChain(fx.store.audit, fx.key, 5);
    fx.tamper((db) => {
      const reversed = (value: unknown): unknown => {
        if (Array.isArray(value)) return value.map(reversed);
        if (value === null || typeof value !== 'object') return value;
        const entries = Object.entries(value as Record<string, unknown>).reverse();
        return Object.fromEntries(entries.map(([k, v]) => [k, reversed(v)]));
      };
      const row = rawRow(db, 3);
      const shuffled = JSON.stringify(reversed(JSON.parse(row.data)));
      expect(shuffled).not.toBe(row.data);
      db.prepare('UPDATE audit SET data = ? WHERE seq = 3').run(shuffled);
    });
    expect(await verifyChain(fx.store.audit, fx.key)).toMatchObject({ ok: true, checked: 5 });
  });
});

describe('canonical encoding', () => {
  it('does not depend on key order, at any depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ y: 1, x: 2 }], c: null } })).toBe(
      canonicalJson({ a: { c: null, d: [{ x: 2, y: 1 }] }, b: 1 }),
    );
    expect(canonicalJson({ b: 1, a: 2 })).toBe('{"a":2,"b":1}');
  });

  it('encodes exactly as sorted keys encoded piece by piece, whatever the value', () => {
    // The encoding every chain was sealed with, written the plainest way.
    const reference = (value: unknown): string | undefined => {
      if (value !== null && typeof value === 'object') {
        const { toJSON } = value as { toJSON?: unknown };
        if (typeof toJSON === 'function') return reference(toJSON.call(value));
        if (Array.isArray(value)) return `[${value.map((item) => reference(item) ?? 'null').join(',')}]`;
        const parts = Object.keys(value)
          .sort()
          .map((key) => [key, reference((value as Record<string, unknown>)[key])] as const)
          .filter(([, encoded]) => encoded !== undefined)
          .map(([key, encoded]) => `${JSON.stringify(key)}:${encoded}`);
        return `{${parts.join(',')}}`;
      }
      return JSON.stringify(value);
    };
    const values: unknown[] = [
      {
        requestId: 'req-1',
        status: 200,
        costMicros: 0.5,
        nested: { b: [1, 'two', { z: true, a: null }], a: 'x' },
      },
      { '10': 'a', '9': 'b', x: 1 },
      { list: [{ '0': 1 }], k: 2 },
      JSON.parse('{"__proto__":{"polluted":1},"a":1}'),
      { toJSON: 'not a function', b: 1 },
      {
        when: new Date(0),
        gone: undefined,
        n: Number.NaN,
        inf: -Infinity,
        list: [undefined, () => 1, Symbol('s')],
      },
      { text: 'quote " backslash \\ newline \n tab \t nul \u0000 é 😀 lone \ud800' },
      [3, [2, [1, { c: 3, b: 2, a: 1 }]]],
      'plain',
      42,
      null,
      { '01': 1, '4294967295': 2, '1234567890': 5, '-1': 3, a: 4 },
    ];
    for (const value of values) expect(canonicalJson(value)).toBe(reference(value) ?? 'null');
    expect(() => canonicalJson({ big: 1n })).toThrow(TypeError);
  });

  it('encodes a value and its JSON round trip alike', () => {
    const value = { when: new Date(0), gone: undefined, n: Number.NaN, list: [undefined, 1] };
    expect(canonicalJson(value)).toBe(canonicalJson(JSON.parse(JSON.stringify(value))));
  });

  it('seals every field, and the same record alike whatever its key order', () => {
    const key = randomBytes(32);
    const record = { seq: 1, at: 5, type: 't', actor: 'a', data: { x: 1, y: 2 }, prevMac: '0'.repeat(64) };
    const mac = sealRecord(key, record);
    expect(mac).toMatch(/^[0-9a-f]{64}$/);
    expect(sealRecord(key, { ...record, data: { y: 2, x: 1 } })).toBe(mac);
    for (const change of [
      { seq: 2 },
      { at: 6 },
      { type: 'u' },
      { actor: 'b' },
      { data: {} },
      { prevMac: '1' },
    ]) {
      expect(sealRecord(key, { ...record, ...change })).not.toBe(mac);
    }
  });
});
