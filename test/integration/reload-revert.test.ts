import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConfigInput, configSchema } from '../../src/config/schema.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { logRecords, startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * A reload applies what the re-read file changes against the configuration in effect, not the
 * one the process started with: a file put back as it was at start is applied too, and the log
 * names what this reload changed.
 */
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function status(kw: TestGateway, model: string): Promise<number> {
  const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.body.dump();
  return res.statusCode;
}

describe('reloading a configuration put back as it was', () => {
  it('routes the restored aliases again, and reports each reload by what it changed', async () => {
    const fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    cleanups.push(() => fake.close());
    const started: ConfigInput = {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [
        { name: 'fast', provider: 'fake', model: 'gpt-4o-mini' },
        { name: 'slow', provider: 'fake', model: 'gpt-4o' },
      ],
    };
    const kw = await startTestGateway(started, { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY });
    cleanups.push(() => kw.close());
    const reload = async (input: ConfigInput) => {
      await kw.gateway.reload(configSchema.parse({ ...input, server: { port: 0 }, admin: { port: 0 } }));
      return logRecords(kw.logs)
        .filter((r) => r.msg === 'configuration reloaded')
        .at(-1)!;
    };

    const without = await reload({
      ...started,
      models: started.models!.slice(0, 1),
      logging: { level: 'info' },
    });
    expect(without.applied).toEqual(['models']);
    expect(await status(kw, 'slow')).toBe(404);

    const restored = await reload(started);
    expect(restored.applied).toEqual(['models']);
    expect(await status(kw, 'slow')).toBe(200);
    expect(await status(kw, 'fast')).toBe(200);

    // The same file again changes nothing, and says so.
    expect((await reload(started)).applied).toEqual([]);
  });
});
