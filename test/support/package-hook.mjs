// A module resolve hook (registered by record-packages.mjs) that appends every npm package file a
// process imports to the file named by KEYWARD_TEST_PACKAGES, one per line.
import { appendFileSync } from 'node:fs';

/**
 * `undici/lib/dispatcher/pool.js` for a path or URL inside node_modules; undefined elsewhere.
 * @param {string} pathOrUrl
 */
export function packageFile(pathOrUrl) {
  return /\/node_modules\/((?:@[^/]+\/)?[^/]+\/.*)$/.exec(pathOrUrl)?.[1];
}

/**
 * @param {string} specifier
 * @param {unknown} context
 * @param {(specifier: string, context: unknown) => Promise<{ url: string }>} next
 */
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  const file = packageFile(resolved.url);
  if (file && process.env.KEYWARD_TEST_PACKAGES)
    appendFileSync(process.env.KEYWARD_TEST_PACKAGES, `${file}\n`);
  return resolved;
}
