// A module resolve hook (registered by record-packages.mjs) that appends every npm package file a
// process imports to the file named by KEYWARD_TEST_PACKAGES, one per line.
import { appendFileSync } from 'node:fs';

/**
 * Appends `undici/lib/dispatcher/pool.js` for a path or URL inside node_modules; nothing elsewhere.
 * @param {string} pathOrUrl
 */
export function recordPackageFile(pathOrUrl) {
  const file = /\/node_modules\/((?:@[^/]+\/)?[^/]+\/.*)$/.exec(pathOrUrl)?.[1];
  if (file && process.env.KEYWARD_TEST_PACKAGES)
    appendFileSync(process.env.KEYWARD_TEST_PACKAGES, `${file}\n`);
}

/**
 * @param {string} specifier
 * @param {unknown} context
 * @param {(specifier: string, context: unknown) => Promise<{ url: string }>} next
 */
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  recordPackageFile(resolved.url);
  return resolved;
}
