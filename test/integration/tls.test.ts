import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { createTestCertificates } from '../support/fake-key-vault.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

let kw: TestGateway;
let dir: string;
let ca: string;
const certFile = () => join(dir, 'listener.pem');
const keyFile = () => join(dir, 'listener.key');

/** The certificate a new TLS connection to `url` is shown, and the protocol agreed (or the error). */
function handshake(url: string, maxVersion: 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.3') {
  const { hostname, port } = new URL(url);
  return new Promise<{ protocol?: string | null; fingerprint?: string; error?: string }>((resolve) => {
    const socket = connect(
      { host: hostname, port: Number(port), ca, servername: 'localhost', maxVersion },
      () => {
        const fingerprint = socket.getPeerX509Certificate()?.fingerprint256;
        resolve({ protocol: socket.getProtocol(), ...(fingerprint && { fingerprint }) });
        socket.end();
      },
    );
    socket.on('error', (error) => resolve({ error: error.message }));
  });
}

function makeCertificate(): string {
  const sub = mkdtempSync(join(dir, 'ca-'));
  const made = createTestCertificates(sub);
  writeFileSync(certFile(), made.cert);
  writeFileSync(keyFile(), made.key);
  ca = readFileSync(made.caFile, 'utf8');
  return new X509Certificate(made.cert).fingerprint256;
}

const tls = () => ({ certFile: certFile(), keyFile: keyFile() });
const config = () => ({ server: { tls: tls() }, admin: { tls: tls() } });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keyward-tls-'));
  makeCertificate();
  kw = await startTestGateway(config());
}, 60_000);
afterAll(async () => {
  await kw?.close();
});

describe('TLS on both listeners', () => {
  it('serves https on the data and admin listeners, TLS 1.3 only by default', async () => {
    expect(kw.dataUrl).toMatch(/^https:/);
    expect(kw.adminUrl).toMatch(/^https:/);
    for (const url of [kw.dataUrl, kw.adminUrl]) {
      expect((await handshake(url)).protocol).toBe('TLSv1.3');
      expect((await handshake(url, 'TLSv1.2')).error).toBeDefined();
    }
  });

  it('answers over https', async () => {
    const { hostname, port } = new URL(kw.dataUrl);
    const res = await new Promise<number>((resolve, reject) => {
      get({ host: hostname, port, path: '/health', ca, servername: 'localhost' }, (response) => {
        response.resume();
        resolve(response.statusCode!);
      }).on('error', reject);
    });
    expect(res).toBe(200);
  });

  it('picks up a renewed certificate on reload (SIGHUP)', async () => {
    const before = (await handshake(kw.dataUrl)).fingerprint;
    const renewed = makeCertificate();
    expect(renewed).not.toBe(before);
    await kw.gateway.reload(
      configSchema.parse({ ...config(), server: { port: 0, tls: tls() }, admin: { port: 0, tls: tls() } }),
    );
    expect((await handshake(kw.dataUrl)).fingerprint).toBe(renewed);
    expect((await handshake(kw.adminUrl)).fingerprint).toBe(renewed);
  });

  it('refuses a minVersion it does not know', () => {
    const parsed = configSchema.safeParse({ server: { tls: { ...tls(), minVersion: 'TLSv1' } } });
    expect(parsed.success).toBe(false);
  });
});
