/**
 * An error nothing caught ends the process with a report through the one redactor: Node's own
 * prints the message, stack and fields as they are.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startGatewayProcess, writeTempConfig } from '../support/process.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

const ADMIN_KEY = 'kwa-crash-admin-key-0123456789abcdef';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Loaded before the CLI: once the gateway listens, fails with the keys it knows in the error. */
const failing = (how: string) =>
  `data:text/javascript,${encodeURIComponent(
    `setTimeout(() => { const e = process.env; ${how}(new Error('boom ' + e.P_KEY + ' ' + Buffer.from(e.KEYWARD_ADMIN_KEY).toString('base64'), { cause: new Error('under ' + e.KEYWARD_API_KEY) })); }, 1500);`,
  )}`;

describe('a crash', { timeout: 60_000 }, () => {
  for (const [kind, how] of [
    ['an uncaught exception', '(error) => { throw error; }'],
    ['an unhandled rejection', 'Promise.reject.bind(Promise)'],
  ] as const) {
    it(`${kind} is reported redacted on stderr and the process exits 1`, async () => {
      const fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
      cleanups.push(() => fake.close());
      const file = writeTempConfig({
        server: { port: 0 },
        admin: { port: 0 },
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
        models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
      });
      const gw = await startGatewayProcess(file, {
        KEYWARD_API_KEY: CLIENT_KEY,
        KEYWARD_ADMIN_KEY: ADMIN_KEY,
        P_KEY: PROVIDER_KEY,
        NODE_OPTIONS: `--import ${failing(`(${how})`)}`,
      });
      cleanups.push(async () => gw.child.kill('SIGKILL'));
      expect(await gw.exited).toBe(1);
      const stderr = gw.stderr();
      expect(stderr).toContain(
        'keyward: an unexpected error ended the process: Error: boom [REDACTED] [REDACTED]',
      );
      expect(stderr).toContain('caused by: Error: under [REDACTED]');
      for (const secret of [PROVIDER_KEY, ADMIN_KEY, CLIENT_KEY, Buffer.from(ADMIN_KEY).toString('base64')]) {
        expect(stderr).not.toContain(secret);
        expect(gw.lines.join('\n')).not.toContain(secret);
      }
    });
  }
});
