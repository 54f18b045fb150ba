import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';

/** Debian's chromium: driven by playwright-core, never a downloaded browser. */
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
