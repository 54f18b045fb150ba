// A module resolve hook (registered by record-packages.mjs) that appends the name of every npm
// package a process resolves to the file named by KEYWARD_TEST_PACKAGES, one per line.
import { appendFileSync } from 'node:fs';

/**
 * @param {string} specifier
 * @param {unknown} context
 * @param {(specifier: string, context: unknown) => Promise<{ url: string }>} next
 */
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  const name = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(resolved.url)?.[1];
  if (name && process.env.KEYWARD_TEST_PACKAGES)
    appendFileSync(process.env.KEYWARD_TEST_PACKAGES, `${name}\n`);
  return resolved;
}
