import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as undici from 'undici';
import { describe, expect, it } from 'vitest';
import { Pool } from '../../src/upstream/undici.js';

const DIST = join(import.meta.dirname, '../../dist');

/**
 * What loading Keyward's library loads, in a process of its own (this file has loaded undici's
 * index already): the undici files, and whether a provider pool has the request API.
 */
function loadedByKeyward(): { undici: string[]; poolRequest: string } {
  const script = `
    import { createRequire } from 'node:module';
    await import(${JSON.stringify(join(DIST, 'index.js'))});
    const { createProviderPool } = await import(${JSON.stringify(join(DIST, 'upstream/pool.js'))});
    const require = createRequire(import.meta.url);
    const pool = createProviderPool({ baseUrl: 'http://127.0.0.1:9', connections: 1, timeouts: {} });
    const undici = Object.keys(require.cache)
      .map((file) => /node_modules\\/undici\\/(.*)$/.exec(file)?.[1])
      .filter(Boolean);
    console.log(JSON.stringify({ undici, poolRequest: typeof pool.request }));
  `;
  return JSON.parse(
    execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }),
  );
}

describe("undici's parts (src/upstream/undici.ts)", () => {
  it('are the classes undici exports', () => {
    expect(Pool).toBe(undici.Pool);
  });

  it("give a gateway's provider pools the request API without loading undici's index", () => {
    const loaded = loadedByKeyward();
    expect(loaded.poolRequest).toBe('function');
    expect(loaded.undici).toContain('lib/dispatcher/pool.js');
    expect(loaded.undici).not.toContain('index.js');
  });
});
