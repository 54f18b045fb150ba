/**
 * Preloaded into a process under test (NODE_OPTIONS=--require): the host names listed in
 * KEYWARD_TEST_LOOPBACK_HOSTS (comma-separated) resolve to 127.0.0.1, and every other name as
 * usual. A fake can then answer under a real service's domain, such as a name under
 * vault.azure.net, which the Azure SDK checks a vault's 401 challenge against.
 */
const dns = require('node:dns');

const hosts = new Set(
  (process.env.KEYWARD_TEST_LOOPBACK_HOSTS ?? '')
    .split(',')
    .map((host) => host.trim().toLowerCase())
    .filter(Boolean),
);
const lookup = dns.lookup;

/**
 * @param {string} host
 * @param {...unknown} rest `options` and the callback, or the callback alone
 */
function loopbackLookup(host, ...rest) {
  if (!hosts.has(String(host).toLowerCase())) return Reflect.apply(lookup, dns, [host, ...rest]);
  const [options] = rest;
  const done = rest.findLast((arg) => typeof arg === 'function');
  if (typeof done !== 'function') throw new TypeError('dns.lookup needs a callback');
  if (typeof options === 'object' && options !== null && 'all' in options && options.all) {
    process.nextTick(done, null, [{ address: '127.0.0.1', family: 4 }]);
  } else {
    process.nextTick(done, null, '127.0.0.1', 4);
  }
}

dns.lookup = /** @type {typeof dns.lookup} */ (/** @type {unknown} */ (loopbackLookup));
