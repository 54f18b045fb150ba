import { writeFileSync } from 'node:fs';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startGatewayProcess, writeTempConfig } from '../support/process.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function chat(url: string, model: string) {
  const res = await request(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const json = (await res.body.json()) as { error?: { code?: string } };
  return { status: res.statusCode, code: json.error?.code };
}

const records = (lines: readonly string[]) =>
  lines.map((line) => JSON.parse(line) as Record<string, unknown>);

describe('keyward start and SIGHUP', { timeout: 60_000 }, () => {
  it('applies aliases, limits, pricing and the log level live, and names what needs a restart', async () => {
    const fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    cleanups.push(() => fake.close());
    const provider = { id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } };
    const before = {
      server: { port: 0 },
      admin: { port: 0 },
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [provider],
      models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
    };
    const file = writeTempConfig(before);
    const gw = await startGatewayProcess(file, { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY });
    cleanups.push(async () => gw.child.kill('SIGKILL'));
    expect((await chat(gw.dataUrl, 'smart')).status).toBe(404);

    writeFileSync(
      file,
      JSON.stringify({
        ...before,
        server: { port: 0, bodyLimit: 65536 },
        providers: [{ ...provider, timeouts: { totalMs: 30_000 } }],
        models: [...before.models, { name: 'smart', provider: 'fake', model: 'gpt-4o' }],
        rateLimits: { staticKeys: { rpm: 1 } },
        pricing: { 'gpt-4o': { input: 1, output: 2 } },
        logging: { level: 'warn' },
      }),
    );
    gw.child.kill('SIGHUP');
    await expect
      .poll(() => gw.lines.some((line) => line.includes('"msg":"configuration reloaded"')))
      .toBe(true);
    const summary = records(gw.lines).find((r) => r.msg === 'configuration reloaded')!;
    expect((summary.applied as string[]).sort()).toEqual([
      'logging.level',
      'models',
      'pricing',
      'rateLimits.staticKeys',
    ]);
    expect(summary.needsRestart).toEqual(['server', 'providers[fake].timeouts']);
    const warning = records(gw.lines).find((r) => Array.isArray(r.needsRestart) && r.level === 'warn')!;
    expect(warning.msg).toBe(
      'changed settings that take effect only after a restart: server, providers[fake].timeouts',
    );

    const linesBefore = gw.lines.length;
    fake.reset();
    expect(await chat(gw.dataUrl, 'smart')).toEqual({ status: 200, code: undefined });
    expect(fake.requests[0]?.body).toMatchObject({ model: 'gpt-4o' });
    expect(await chat(gw.dataUrl, 'fast')).toEqual({ status: 429, code: 'rate_limit_exceeded' });
    // At level warn the request lines are gone. A second SIGHUP writes a warning after them: once
    // it is out, so is everything logged before it.
    gw.child.kill('SIGHUP');
    const warnings = () => gw.lines.filter((line) => line.includes('take effect only after a restart'));
    await expect.poll(() => warnings().length).toBe(2);
    expect(gw.lines.slice(linesBefore).filter((line) => line.includes('"route"'))).toEqual([]);
  });
});
