// `node --import` this file to record the npm package files the process loads, by `import` (the
// resolve hook in package-hook.mjs) and by `require` (below), one per line in the file named by
// KEYWARD_TEST_PACKAGES: `undici/lib/dispatcher/pool.js`.
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';
import { packageFile } from './package-hook.mjs';

register('./package-hook.mjs', import.meta.url);

// CommonJS packages require their own files and each other without passing the resolve hook:
// Node's own (undocumented, stable) CommonJS resolver is wrapped instead.
/** @type {{ _resolveFilename: (...args: unknown[]) => string }} */
const loader = /** @type {any} */ (Module);
const resolveFilename = loader._resolveFilename;
loader._resolveFilename = function (/** @type {unknown[]} */ ...args) {
  const resolved = resolveFilename.apply(this, args);
  const file = packageFile(resolved);
  if (file && process.env.KEYWARD_TEST_PACKAGES)
    appendFileSync(process.env.KEYWARD_TEST_PACKAGES, `${file}\n`);
  return resolved;
};
