// `node --import` this file to record the npm package files the process loads, by `import` (the
// resolve hook in package-hook.mjs) and by `require` (below), one per line in the file named by
// KEYWARD_TEST_PACKAGES: `undici/lib/dispatcher/pool.js`.
import Module, { register } from 'node:module';
import { recordPackageFile } from './package-hook.mjs';

register('./package-hook.mjs', import.meta.url);

// CommonJS packages require their own files and each other without passing the resolve hook:
// Node's own (undocumented, stable) CommonJS resolver is wrapped instead.
/** @type {{ _resolveFilename: (...args: unknown[]) => string }} */
const loader = /** @type {any} */ (Module);
const resolveFilename = loader._resolveFilename;
loader._resolveFilename = function (/** @type {unknown[]} */ ...args) {
  const resolved = resolveFilename.apply(this, args);
  recordPackageFile(resolved);
  return resolved;
};
