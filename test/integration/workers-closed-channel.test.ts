import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { childrenOf, holderOf } from '../support/proc.js';
import { type RunningGateway, startWorkers, writeTempConfig } from '../support/process.js';
import { PROVIDER_KEY } from '../support/setup.js';

/** Sends one request on a kept-alive socket and reads its whole answer (content-length bodies only). */
async function exchange(socket: Socket, head: string): Promise<{ status: number; body: string }> {
  socket.write(head);
  let text = '';
  for (;;) {
    const split = text.indexOf('\r\n\r\n');
    if (split !== -1) {
      const length = Number(/content-length: (\d+)/i.exec(text.slice(0, split))?.[1] ?? 0);
      if (text.length >= split + 4 + length)
        return { status: Number(text.slice(9, 12)), body: text.slice(split + 4, split + 4 + length) };
    }
    const chunk = await Promise.race([
      once(socket, 'data').then(([data]) => String(data)),
      once(socket, 'close').then(() => {
        throw new Error(`the connection closed before an answer (had ${JSON.stringify(text)})`);
      }),
    ]);
    text += chunk;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('keyward start --workers 2 when a worker dies as the primary writes to it', () => {
  let fake: FakeProvider;
  let kw: RunningGateway;

  beforeAll(async () => {
    fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    const config = writeTempConfig({
      server: { port: 0 },
      admin: { port: 0 },
      providers: [{ id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'P_KEY' } }],
      models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
    });
    kw = await startWorkers(config, { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY });
  });
  afterAll(async () => {
    if (kw && kw.child.exitCode === null && kw.child.signalCode === null) {
      kw.child.kill('SIGCONT');
      kw.child.kill('SIGTERM');
      await kw.exited;
    }
    await fake?.close();
  });

  it('logs the lost message and keeps the primary and the other worker serving', async () => {
    const primary = kw.child.pid!;
    const admin = new URL(kw.adminUrl);
    const socket = connect(Number(admin.port), admin.hostname);
    await once(socket, 'connect');
    const health = `GET /health HTTP/1.1\r\nHost: ${admin.host}\r\n\r\n`;
    expect((await exchange(socket, health)).status).toBe(200);
    const workers = childrenOf(primary);
    expect(workers).toHaveLength(2);
    const keeper = holderOf(Number(admin.port), socket.localPort!, workers);
    expect(keeper).toBeDefined();
    const victim = workers.find((pid) => pid !== keeper)!;

    // The primary is frozen while the two things it will have to handle happen, in this order: the
    // keeper asks it to gather the alerts of every worker (over its IPC channel), then the victim
    // dies. Thawed, the primary reads the keeper's call first and writes a gather to the victim,
    // whose channel it has not yet seen close: the write fails (EPIPE), reported as the worker's
    // 'error' event, which nothing heard before 9268ba1.
    process.kill(primary, 'SIGSTOP');
    let answered: Promise<{ status: number; body: string }>;
    try {
      answered = exchange(
        socket,
        `GET /admin/alerts HTTP/1.1\r\nHost: ${admin.host}\r\nAuthorization: Bearer ${ADMIN_KEY}\r\n\r\n`,
      );
      // Caught here so that a rejection while the primary is still frozen is not unhandled.
      answered.catch(() => undefined);
      await sleep(300);
      process.kill(victim, 'SIGKILL');
      await sleep(300);
    } finally {
      process.kill(primary, 'SIGCONT');
    }

    // The gather still ends (the dead worker's part times out) and the keeper answers on the same
    // connection: the primary did not die, so neither did the keeper.
    const alerts = await answered;
    expect(alerts.status).toBe(200);
    expect(JSON.parse(alerts.body)).toHaveProperty('alerts');
    socket.destroy();
    expect(kw.child.exitCode).toBeNull();
    expect(kw.child.signalCode).toBeNull();
    expect(kw.lines.join('\n')).toContain('was lost: it is exiting');

    // New connections are served, and the dead worker is replaced.
    for (let i = 0; i < 4; i++) {
      const res = await request(`${kw.dataUrl}/health`, { headers: { connection: 'close' } });
      await res.body.dump();
      expect(res.statusCode).toBe(200);
    }
    await expect
      .poll(() => childrenOf(primary).filter((pid) => pid !== victim), { timeout: 5000 })
      .toHaveLength(2);
    expect(childrenOf(primary)).toContain(keeper);
  });
});
