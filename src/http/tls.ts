import { readFileSync } from 'node:fs';
import type { Server } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import type { Config } from '../config/index.js';

export type TlsConfig = NonNullable<Config['server']['tls']>;

/** The listener's certificate, key and lowest protocol version (TLS 1.3 unless configured). */
export function tlsOptions(tls: TlsConfig): SecureContextOptions {
  return { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile), minVersion: tls.minVersion };
}

/**
 * Re-reads the certificate and key (SIGHUP after a renewal): new connections get them, open ones
 * keep theirs. A file that cannot be read leaves the current certificate in place.
 */
export function reloadTls(server: unknown, tls: TlsConfig): void {
  (server as Server).setSecureContext(tlsOptions(tls));
}
