import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { ADMIN_KEY } from '../support/admin.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { type RunningGateway, startGatewayProcess, writeTempConfig } from '../support/process.js';
import { getRequest, type RawConnection, rawConnection } from '../support/raw-socket.js';

const listeners = (kw: TestGateway) => [
  ['data', kw.dataUrl],
  ['admin', kw.adminUrl],
];

/** Client addresses on the loopback interface: two in one /64, one in another. */
const SAME_BLOCK = ['2001:db8:7::5', '2001:db8:7::6'] as const;
const OTHER_BLOCK = '2001:db8:8::5';
const ip6 = (verb: 'add' | 'del', address: string) =>
  spawnSync('ip', ['-6', 'addr', verb, `${address}/128`, 'dev', 'lo', ...(verb === 'add' ? ['nodad'] : [])], {
    encoding: 'utf8',
  });
/** Root may add the addresses (an address already there is fine); others skip. */
const ipv6Clients = [...SAME_BLOCK, OTHER_BLOCK].every((address) => {
  const added = ip6('add', address);
  return added.status === 0 || /exists|already assigned/i.test(added.stderr ?? '');
});
afterAll(() => {
  if (ipv6Clients) for (const address of [...SAME_BLOCK, OTHER_BLOCK]) ip6('del', address);
});

describe('connection bounds', () => {
  let kw: TestGateway | undefined;
  const sockets: RawConnection[] = [];
  afterEach(async () => {
    for (const c of sockets.splice(0)) c.socket.destroy();
    await kw?.close();
    kw = undefined;
  });

  const open = async (url: string, data?: string, from?: string) => {
    const connection = await rawConnection(url, data, from);
    sockets.push(connection);
    return connection;
  };
  const start = async (server: ConfigInput['server']) => {
    kw = await startTestGateway({ server }, { KEYWARD_ADMIN_KEY: ADMIN_KEY });
    return kw;
  };

  it('answers 408 and closes a connection that sends nothing or half a request line, on both listeners', async () => {
    const gateway = await start({ headersTimeoutMs: 200 });
    for (const [name, url] of listeners(gateway)) {
      const silent = await open(url!);
      const half = await open(url!, 'POST /v1/chat/compl');
      const headersOnly = await open(url!, 'GET /health HTTP/1.1\r\nHost: localhost\r\n');
      for (const connection of [silent, half, headersOnly]) {
        const answer = await connection.closed;
        expect(answer, name).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
        expect(answer).toContain('"code":"request_timeout"');
      }
    }
  });

  it('closes a kept-alive connection once it has been idle for keepAliveTimeoutMs', async () => {
    const gateway = await start({ keepAliveTimeoutMs: 200 });
    for (const [name, url] of listeners(gateway)) {
      const connection = await open(url!, getRequest('/health'));
      await connection.waitFor('{"status":"ok"}');
      const answer = await connection.closed;
      expect(answer, name).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    }
  });

  it('closes connections beyond server.maxConnections and accepts again once one closes', async () => {
    const gateway = await start({ maxConnections: 3, headersTimeoutMs: 60_000 });
    for (const [name, url] of listeners(gateway)) {
      const held = await Promise.all([1, 2, 3].map(() => open(url!, getRequest('/health'))));
      await Promise.all(held.map((c) => c.waitFor('{"status":"ok"}')));
      const extra = await open(url!, getRequest('/health'));
      expect(await extra.closed, name).toBe('');
      held[0]!.socket.destroy();
      await held[0]!.closed;
      await expect
        .poll(async () => {
          const again = await open(url!, getRequest('/health'));
          const answer = await Promise.race([again.waitFor('{"status":"ok"}'), again.closed]);
          again.socket.destroy();
          return answer.startsWith('HTTP/1.1 200');
        })
        .toBe(true);
      for (const c of held) c.socket.destroy();
    }
    const metrics = await gateway.gateway.metrics.render();
    expect(metrics).toMatch(
      /keyward_connections_refused_total\{listener="data",reason="max_connections"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /keyward_connections_refused_total\{listener="admin",reason="max_connections"\} [1-9]/,
    );
  });

  it('answers 503 to the connection past the per-address cap, and counts closed ones out', async () => {
    const gateway = await start({ maxConnectionsPerAddress: 2, headersTimeoutMs: 60_000 });
    for (const [name, url] of listeners(gateway)) {
      const held = await Promise.all([1, 2].map(() => open(url!, getRequest('/health'))));
      await Promise.all(held.map((c) => c.waitFor('{"status":"ok"}')));
      const refused = await open(url!, getRequest('/health'));
      const answer = await refused.closed;
      expect(answer, name).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
      expect(answer).toContain('Connection: close');
      expect(answer).toContain('"code":"too_many_connections"');
      held[1]!.socket.destroy();
      await held[1]!.closed;
      await expect
        .poll(async () => {
          const again = await open(url!, getRequest('/health'));
          const text = await Promise.race([again.waitFor('\r\n\r\n'), again.closed]);
          again.socket.destroy();
          await again.closed;
          return text.startsWith('HTTP/1.1 200');
        })
        .toBe(true);
      held[0]!.socket.destroy();
    }
  });

  it.skipIf(!ipv6Clients)(
    'counts an IPv6 client per /64, so a fresh address in the same block gets no fresh allowance (needs root to add addresses to lo)',
    async () => {
      const gateway = await start({ host: '::1', maxConnectionsPerAddress: 2, headersTimeoutMs: 60_000 });
      const from = (address: string) => open(gateway.dataUrl, getRequest('/health'), address);
      const held = [await from(SAME_BLOCK[0]), await from(SAME_BLOCK[0])];
      await Promise.all(held.map((c) => c.waitFor('{"status":"ok"}')));
      const sibling = await from(SAME_BLOCK[1]);
      expect(await sibling.closed).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
      const neighbour = await from(OTHER_BLOCK);
      expect(await neighbour.waitFor('{"status":"ok"}')).toMatch(/^HTTP\/1\.1 200 OK/);
    },
  );

  it('does not apply the per-address cap to a trusted proxy', async () => {
    const gateway = await start({ maxConnectionsPerAddress: 1, trustProxy: ['loopback'] });
    const held = await Promise.all([1, 2, 3].map(() => open(gateway.dataUrl, getRequest('/health'))));
    for (const connection of held) {
      expect(await connection.waitFor('{"status":"ok"}')).toMatch(/^HTTP\/1\.1 200 OK/);
    }
  });
});

describe('idle connections and memory', () => {
  let running: RunningGateway | undefined;
  afterEach(() => {
    running?.child.kill('SIGKILL');
  });

  const rssKb = (pid: number) =>
    Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  const openFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

  /** `count` connections that send nothing, in waves; resolves once the gateway has closed all. */
  const idleWaves = async (url: string, count: number, wave: number) => {
    for (let done = 0; done < count; done += wave) {
      const batch = await Promise.all(Array.from({ length: wave }, () => rawConnection(url)));
      const answers = await Promise.all(batch.map((c) => c.closed));
      expect(answers.every((a) => a.startsWith('HTTP/1.1 408'))).toBe(true);
    }
  };

  it('stays flat in memory and descriptors while 10,000 idle connections come and go', async () => {
    const config = writeTempConfig({
      server: { port: 0, headersTimeoutMs: 100, maxConnectionsPerAddress: 5_000 },
      admin: { port: 0 },
    });
    running = await startGatewayProcess(config, {});
    const pid = running.child.pid!;
    // A warm-up wave brings the heap and socket pools to their working size first.
    await idleWaves(running.dataUrl, 2_000, 500);
    const before = { rss: rssKb(pid), fds: openFds(pid) };
    await idleWaves(running.dataUrl, 10_000, 500);
    const after = { rss: rssKb(pid), fds: openFds(pid) };
    expect(after.fds).toBeLessThanOrEqual(before.fds + 2);
    expect(after.rss).toBeLessThan(before.rss * 1.5);
  }, 60_000);
});
