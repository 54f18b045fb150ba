import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { createGateway, type Gateway } from '../../src/gateway/index.js';
import { ListenError } from '../../src/http/listen.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { freePort } from '../support/free-port.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

const servers: Server[] = [];
const gateways: Gateway[] = [];
let fake: Awaited<ReturnType<typeof startFakeOpenAI>> | undefined;
afterEach(async () => {
  for (const gateway of gateways.splice(0)) await gateway.close(0);
  for (const server of servers.splice(0)) server.close();
  await fake?.close();
  fake = undefined;
});

/** A loopback port another program already holds. */
async function heldPort(): Promise<number> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** Whether anything answers on the loopback `port`: the status of GET /health, or the refusal. */
async function health(port: number): Promise<number | string> {
  return request(`http://127.0.0.1:${port}/health`).then(
    async (res) => {
      await res.body.dump();
      return res.statusCode;
    },
    (error: NodeJS.ErrnoException) => error.code ?? 'error',
  );
}

describe('a gateway whose listen() fails', () => {
  it('leaves no listener open: the data plane that did start is closed again', async () => {
    fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    const [dataPort, adminPort] = [await freePort(), await heldPort()];
    const gateway = await createGateway({
      config: configSchema.parse({
        server: { port: dataPort },
        admin: { port: adminPort },
        providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
        models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
      }),
      env: { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY },
      dataDir: mkdtempSync(join(tmpdir(), 'keyward-test-')),
      logDestination: { write: () => undefined },
    });
    gateways.push(gateway);

    const refused = await gateway.listen().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ListenError);
    expect((refused as ListenError).message).toContain(
      `the admin listener cannot listen on 127.0.0.1:${adminPort}`,
    );
    expect(await health(dataPort)).toBe('ECONNREFUSED');
    const chat = await request(`http://127.0.0.1:${dataPort}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
    }).then(
      () => 'answered',
      (error: NodeJS.ErrnoException) => error.code,
    );
    expect(chat).toBe('ECONNREFUSED');
    expect(fake.requests).toHaveLength(0);
  });
});
