import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { type ConfigInput, configSchema } from '../../src/config/schema.js';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/gateway/index.js';

export interface TestGateway {
  gateway: Gateway;
  dataUrl: string;
  adminUrl: string;
  /** Every log line the gateway wrote, as written (already redacted). */
  logs: string[];
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts a real gateway on loopback ports chosen by the OS, with log lines captured in memory.
 * `config` is the file a user would write; listeners default to port 0.
 */
export async function startTestGateway(
  config: ConfigInput,
  env: NodeJS.ProcessEnv = {},
  dataDir?: string,
  /** Started as a worker of `keyward start --workers N` would be. */
  worker?: GatewayOptions['worker'],
  /** An account of whole answers of the test's own (`GatewayOptions.answers`). */
  answers?: GatewayOptions['answers'],
): Promise<TestGateway> {
  const logs: string[] = [];
  const parsed = configSchema.parse({
    ...config,
    server: { port: 0, ...config.server },
    admin: { port: 0, ...config.admin },
  });
  const gateway = await createGateway({
    config: parsed,
    env,
    dataDir: dataDir ?? mkdtempSync(join(tmpdir(), 'keyward-test-')),
    logDestination: {
      write(line: string) {
        logs.push(line);
      },
    },
    worker,
    answers,
  });
  const { dataUrl, adminUrl } = await gateway.listen();
  return { gateway, dataUrl, adminUrl, logs, close: (graceMs = 1000) => gateway.close(graceMs) };
}

/** Parsed log lines, for assertions on fields. */
export function logRecords(logs: readonly string[]): Array<Record<string, unknown>> {
  return logs.map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** One short chat request to the model alias `fast` with `credential`; its status. */
export async function chatStatus(gateway: { dataUrl: string }, credential: string): Promise<number> {
  const res = await request(`${gateway.dataUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.body.dump();
  return res.statusCode;
}
