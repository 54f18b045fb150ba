import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';

/** Debian's Chromium; the tests never download a browser. */
export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = (): boolean => existsSync(CHROMIUM);

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface PageServer {
  /** `http://<host>:<port>` as the browser sees it (the page's origin). */
  origin: string;
  close(): Promise<void>;
}

/**
 * A real HTTP server for a test page: every path answers `html`. `host` is the name the browser
 * uses (`localhost` and `127.0.0.1` are different sites to it).
 */
export async function servePage(html: string, host = 'localhost'): Promise<PageServer> {
  const server: Server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://${host}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The `keyward/client` sources bundled as one ES module, as an app's bundler would ship them. */
export async function bundleClient(): Promise<string> {
  const result = await build({
    entryPoints: [join(import.meta.dirname, '../../src/client/index.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
  });
  return result.outputFiles[0]!.text;
}

/** A page that has loaded the bundled SDK as `window.Keyward`. */
export const PAGE_HTML = `<!doctype html><meta charset="utf-8"><title>keyward/client</title>
<script type="module">import * as Keyward from './sdk.js'; window.Keyward = Keyward; document.title = 'ready';</script>`;

export async function waitForSdk(page: Page): Promise<void> {
  await page.waitForFunction('document.title === "ready"');
}
