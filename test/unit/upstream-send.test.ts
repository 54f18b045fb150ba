import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { AbortHandle, classifyUpstreamError, UpstreamError } from '../../src/upstream/index.js';
import { send } from '../../src/upstream/send.js';

type Answer = (res: ServerResponse) => void;

/** A real HTTP server on loopback answering each request with the next of `answers`. */
async function upstream(...answers: Answer[]) {
  let connections = 0;
  const closed: boolean[] = [];
  const server: Server = createServer((req, res) => {
    const index = closed.length;
    closed.push(false);
    res.on('close', () => {
      if (!res.writableFinished) closed[index] = true;
    });
    req.resume();
    req.on('end', () => answers.shift()?.(res));
  });
  server.on('connection', () => connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { connections: 1 });
  cleanups.push(async () => {
    await pool.destroy();
    server.closeAllConnections();
    server.close();
  });
  return { pool, connections: () => connections, cutShort: (i: number) => closed[i] };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const call = { path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: '{}' };

/** Writes `total` bytes of `x` in chunks of `size`, waiting for the socket each time. */
async function writeMany(res: ServerResponse, total: number, size: number) {
  res.writeHead(200, { 'content-type': 'text/plain' });
  for (let sent = 0; sent < total; sent += size) {
    if (!res.write('x'.repeat(Math.min(size, total - sent)))) await once(res, 'drain');
    if (res.destroyed) return;
  }
  res.end();
}

describe('send: undici dispatch with a body of our own', () => {
  it('hands over status and headers first, then the whole body as text', async () => {
    const { pool } = await upstream((res) => {
      res.writeHead(201, { 'retry-after': '3', 'x-many': ['a', 'b'] });
      res.write('{"a":');
      setTimeout(() => res.end('1}'), 20);
    });
    const response = await send(pool, call, new AbortHandle());
    expect(response.statusCode).toBe(201);
    expect(response.headers['retry-after']).toBe('3');
    expect(response.headers['x-many']).toEqual(['a', 'b']);
    expect(await response.body.text()).toBe('{"a":1}');
  });

  it('delivers every byte of a large body to a slow reader, pausing the connection meanwhile', async () => {
    const total = 2 * 1024 * 1024;
    const { pool } = await upstream((res) => void writeMany(res, total, 16 * 1024));
    const response = await send(pool, call, new AbortHandle());
    let received = 0;
    for await (const chunk of response.body) {
      received += chunk.length;
      await sleep(1);
    }
    expect(received).toBe(total);
  });

  it('reads a body far past the pause mark whole as text, however it is written', async () => {
    const total = 3 * 1024 * 1024;
    const { pool } = await upstream(
      (res) => void writeMany(res, total, 16 * 1024),
      (res) => res.end('y'.repeat(total)),
    );
    for (const letter of ['x', 'y']) {
      const response = await send(pool, call, new AbortHandle());
      const text = await response.body.text();
      expect(text.length).toBe(total);
      expect(text[total - 1]).toBe(letter);
    }
  });

  it('cuts the exchange when the reader leaves early, as a Readable would', async () => {
    const { pool, cutShort } = await upstream((res) => void writeMany(res, 8 * 1024 * 1024, 16 * 1024));
    const response = await send(pool, call, new AbortHandle());
    for await (const _ of response.body) break;
    await expect.poll(() => cutShort(0)).toBe(true);
  });

  it('keeps the connection of a body that ends just after its reader left (a stream past its terminal event)', async () => {
    const { pool, connections, cutShort } = await upstream(
      (res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: [DONE]\n\n');
        setTimeout(() => res.end(), 50);
      },
      (res) => res.end('second'),
    );
    const response = await send(pool, call, new AbortHandle());
    for await (const _ of response.body) break;
    expect(await (await send(pool, call, new AbortHandle())).body.text()).toBe('second');
    expect(connections()).toBe(1);
    expect(cutShort(0)).toBe(false);
  });

  it('cuts a body its reader left that does not end soon after', async () => {
    const { pool, cutShort } = await upstream((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: [DONE]\n\n');
    });
    const response = await send(pool, call, new AbortHandle());
    for await (const _ of response.body) break;
    await expect.poll(() => cutShort(0), { timeout: 3000 }).toBe(true);
  });

  it('keeps the connection after dumping a short body, and cuts a long one', async () => {
    const { pool, connections, cutShort } = await upstream(
      (res) => res.end('{"error":"rate limited"}'),
      (res) => res.end('second'),
      // Far more than loopback's socket buffers take (several MiB under load): it cannot have been
      // written whole by the time the reader is past the dump limit, so only a cut ends it.
      (res) => void writeMany(res, 64 * 1024 * 1024, 16 * 1024),
      (res) => res.end('fourth'),
    );
    await (await send(pool, call, new AbortHandle())).body.dump();
    expect(await (await send(pool, call, new AbortHandle())).body.text()).toBe('second');
    expect(connections()).toBe(1);
    await (await send(pool, call, new AbortHandle())).body.dump();
    await expect.poll(() => cutShort(2), { timeout: 3000 }).toBe(true);
    expect(await (await send(pool, call, new AbortHandle())).body.text()).toBe('fourth');
  });

  it('fails the reader with the abort reason when the request is aborted mid-body', async () => {
    const { pool } = await upstream((res) => {
      res.writeHead(200);
      res.write('partial');
    });
    const signal = new AbortHandle();
    const response = await send(pool, call, signal);
    const reading = response.body.text();
    signal.abort(new UpstreamError('aborted', 'client disconnected'));
    const error = await reading.catch((thrown: unknown) => thrown);
    expect(classifyUpstreamError(error, signal)).toMatchObject({
      failure: 'aborted',
      message: 'client disconnected',
    });
  });

  it('rejects before the answer when aborted while waiting for it, or already aborted', async () => {
    const { pool } = await upstream(() => undefined);
    const signal = new AbortHandle();
    const pending = send(pool, call, signal);
    await sleep(20);
    signal.abort(new UpstreamError('timeout', 'total deadline passed'));
    await expect(pending).rejects.toBeDefined();
    expect(classifyUpstreamError(await pending.catch((e: unknown) => e), signal).failure).toBe('timeout');
    await expect(send(pool, call, signal)).rejects.toBe(signal.reason);
  });

  it('throws a cut connection to the reader with undici’s socket error', async () => {
    const { pool } = await upstream((res) => {
      res.writeHead(200);
      res.write('data: {}\n\n');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const response = await send(pool, call, new AbortHandle());
    const chunks: string[] = [];
    const error = await (async () => {
      for await (const chunk of response.body) chunks.push(chunk.toString());
    })().catch((thrown: unknown) => thrown);
    expect(chunks.join('')).toBe('data: {}\n\n');
    expect(classifyUpstreamError(error, new AbortHandle())).toMatchObject({ failure: 'connect' });
  });
});
