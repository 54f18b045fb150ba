import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseToken, TokenService } from '../../src/auth/index.js';
import { openSqliteStore } from '../../src/store/index.js';

/** Median of `rounds` timings (ns) of `batch` calls each, the two candidates interleaved. */
function medians(a: () => unknown, b: () => unknown, rounds = 201, batch = 200): [number, number] {
  const times: [number[], number[]] = [[], []];
  for (let round = 0; round < rounds; round++) {
    for (const [i, fn] of [a, b].entries()) {
      const started = process.hrtime.bigint();
      for (let j = 0; j < batch; j++) fn();
      times[i]!.push(Number(process.hrtime.bigint() - started));
    }
  }
  const median = (list: number[]) => list.sort((x, y) => x - y)[Math.floor(list.length / 2)]!;
  return [median(times[0]), median(times[1])];
}

describe('token verification', () => {
  it('takes the same time whether the first or the last byte of the secret is wrong', async () => {
    const store = openSqliteStore(join(mkdtempSync(join(tmpdir(), 'keyward-timing-')), 'keyward.db'));
    const tokens = new TokenService(store, randomBytes(32));
    await tokens.load();
    const { token } = await tokens.create({ name: 'timing' }, null);
    // Proven once, so that wrong secrets meet the cached comparison before the HMAC.
    expect(tokens.verify(token, '127.0.0.1')).toHaveProperty('principal');
    const flip = (char: string) => (char === 'A' ? 'B' : 'A');
    const firstWrong = token.slice(0, 16) + flip(token[16]!) + token.slice(17);
    const lastWrong = token.slice(0, -1) + flip(token.at(-1)!);
    expect(parseToken(firstWrong)?.id).toBe(parseToken(lastWrong)?.id);
    expect(tokens.verify(firstWrong, '127.0.0.1')).toEqual({ failure: 'invalid' });
    expect(tokens.verify(lastWrong, '127.0.0.1')).toEqual({ failure: 'invalid' });

    // The secret is hashed with a keyed HMAC and the digests compared with timingSafeEqual, so the
    // position of the first wrong byte cannot show. The bound is loose: this VM is noisy, and a
    // byte-by-byte comparison of 43 characters would not show either at this resolution; the
    // assertion guards against an early exit on a cheaper path (such as comparing strings first).
    const [first, last] = medians(
      () => tokens.verify(firstWrong, '127.0.0.1'),
      () => tokens.verify(lastWrong, '127.0.0.1'),
    );
    expect(first / last).toBeGreaterThan(0.75);
    expect(first / last).toBeLessThan(1.33);
    await store.close();
  });

  it('accepts only the proven secret without an HMAC, and forgets it with the token', async () => {
    const store = openSqliteStore(join(mkdtempSync(join(tmpdir(), 'keyward-proven-')), 'keyward.db'));
    const tokens = new TokenService(store, randomBytes(32));
    await tokens.load();
    const { token, record } = await tokens.create({ name: 'proven' }, null);
    const other = `${token.slice(0, 16)}${randomBytes(32).toString('base64url')}`;
    for (let i = 0; i < 3; i++) {
      expect(tokens.verify(token, '127.0.0.1')).toHaveProperty('principal.tokenId', record.id);
      expect(tokens.verify(other, '127.0.0.1')).toEqual({ failure: 'invalid' });
    }
    await tokens.revoke(record.id);
    expect(await tokens.verify(token, '127.0.0.1')).toEqual({ failure: 'revoked' });
    await store.close();
  });

  it('refuses a token minted while another instance revoked its creator, once the revocation arrives', async () => {
    const store = openSqliteStore(join(mkdtempSync(join(tmpdir(), 'keyward-lineage-')), 'keyward.db'));
    const tokens = new TokenService(store, randomBytes(32));
    await tokens.load();
    const parent = await tokens.create({ name: 'team', scopes: ['admin', 'chat'] }, null);
    // Another instance revokes the creator (the store's cascade finds nothing under it yet); this
    // one, not told yet, mints under it.
    expect(await store.tokens.revoke(parent.record.id, Date.now())).toBe(true);
    const child = await tokens.create({ name: 'late', scopes: ['chat'] }, parent.record);
    expect((await store.tokens.get(child.record.id))?.revokedAt).toBeNull();
    await tokens.syncRevocations();
    expect(await tokens.verify(child.token, '127.0.0.1')).toEqual({ failure: 'revoked' });
    expect(await tokens.liveRecord(child.record.id)).toBeUndefined();
    await store.close();
  });
});
