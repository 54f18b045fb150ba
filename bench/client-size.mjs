// The size of the `keyward/client` core as a browser gets it: the SDK bundled from its sources
// with esbuild (ESM, minified), then gzipped. Fails (exit 1) above the 6 KB budget.
// Usage: node bench/client-size.mjs [--json]

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const BUDGET = 6 * 1024;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export async function clientSize() {
  const result = await build({
    entryPoints: [join(root, 'src/client/index.ts')],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
  });
  const code = result.outputFiles[0].contents;
  return { minified: code.length, gzipped: gzipSync(code, { level: 9 }).length, budget: BUDGET };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const size = await clientSize();
  if (process.argv.includes('--json')) console.log(JSON.stringify(size));
  else
    console.log(`keyward/client: ${size.minified} B minified, ${size.gzipped} B min+gz (budget ${BUDGET} B)`);
  process.exitCode = size.gzipped <= BUDGET ? 0 : 1;
}
