import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeywardClient } from '../../src/client/index.js';
import { sseData } from '../../src/client/sse.js';
import { caught } from '../support/caught.js';

/**
 * What keyward/client makes of answers the gateway itself never sends but something in front of it
 * may (a proxy's HTML page, a broken event stream), and of the SSE wire's corners: each served by
 * a real HTTP listener on loopback, written in the chunks each test names.
 */

type Scene = (res: ServerResponse) => Promise<void> | void;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes `chunks` one by one, each flushed on its own, a pause apart, then ends the answer. */
const chunked =
  (contentType: string, chunks: string[], end = true): Scene =>
  async (res) => {
    res.writeHead(200, { 'content-type': contentType, 'x-request-id': 'req-wire' });
    res.flushHeaders();
    for (const chunk of chunks) {
      res.write(chunk);
      await pause(30);
    }
    if (end) res.end();
  };

describe('keyward/client reading answers off the wire', () => {
  const scenes = new Map<string, Scene>();
  const sockets = new Set<Socket>();
  /** Paths whose connection the client closed before the answer ended. */
  const abandoned: string[] = [];
  let base: string;
  const server = createServer((req, res) => {
    const path = req.url ?? '';
    res.on('close', () => {
      if (!res.writableFinished) abandoned.push(path);
    });
    req.resume();
    req.on('end', () => {
      const scene = scenes.get(path);
      if (scene) void scene(res);
      else res.writeHead(404).end();
    });
  });
  server.on('connection', (socket: Socket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    server.close();
    await once(server, 'close');
  });

  /** The data of each event a real fetch of `path` carries, as sseData reads them. */
  async function events(path: string, scene: Scene): Promise<string[]> {
    scenes.set(path, scene);
    const response = await fetch(base + path);
    const out: string[] = [];
    for await (const data of sseData(response.body!)) out.push(data);
    return out;
  }

  const client = () => new KeywardClient({ baseUrl: base, apiKey: 'kw-test', maxRetries: 0 });
  const chatBody = { model: 'fast', messages: [{ role: 'user', content: 'Hi' }] };

  it('raises invalid_response, not a SyntaxError, for a 2xx body that is not JSON', async () => {
    scenes.set(
      '/v1/chat/completions',
      chunked('text/html', ['<!DOCTYPE html><html><body>Sign in to the corporate proxy</body></html>']),
    );
    const error = await caught(client().chat.completions.create(chatBody));
    expect(error).toMatchObject({
      status: 200,
      type: 'invalid_response',
      code: 'invalid_json',
      requestId: 'req-wire',
    });
    expect(error.message).toContain('not JSON');
    expect(error.message).toContain('text/html');
    expect(error.message).toContain('<!DOCTYPE html>');
  });

  it('raises invalid_response, not network_error, for a stream event that is not JSON', async () => {
    const good = JSON.stringify({ choices: [{ index: 0, delta: { content: 'Hel' } }] });
    scenes.set(
      '/v1/chat/completions',
      chunked('text/event-stream', [`data: ${good}\n\n`, 'data: <html>Gateway Timeout</html>\n\n']),
    );
    const seen: string[] = [];
    const error = await caught(
      (async () => {
        for await (const delta of client().chat.completions.stream(chatBody)) seen.push(delta.content);
      })(),
    );
    expect(seen).toEqual(['Hel']);
    expect(error).toMatchObject({
      status: 200,
      type: 'invalid_response',
      code: 'invalid_event',
      requestId: 'req-wire',
    });
    expect(error.message).toContain('<html>Gateway Timeout</html>');
    expect(error.message).not.toContain('could not be reached');
  });

  it('ends lines at a bare CR, as at LF and CRLF', async () => {
    expect(
      await events(
        '/sse/cr',
        chunked('text/event-stream', ['data: a\rdata: b\r\rdata: c\r\n\r\ndata: d\n\n']),
      ),
    ).toEqual(['a\nb', 'c', 'd']);
  });

  it('reads a CRLF split between two chunks as one line break', async () => {
    expect(
      await events('/sse/split', chunked('text/event-stream', ['data: a\r', '\ndata: b\r', '\n\r', '\n'])),
    ).toEqual(['a\nb']);
  });

  it('reads a line that is only `data` as an empty data line', async () => {
    expect(
      await events('/sse/bare-data', chunked('text/event-stream', ['data\ndata: x\n\n', 'data\n\n'])),
    ).toEqual(['\nx', '']);
  });

  it('gives up on an event that never ends instead of buffering it without a bound', async () => {
    const piece = 'x'.repeat(64 * 1024);
    // 5 MiB of one line that never ends, and the connection held open after it.
    scenes.set(
      '/v1/chat/completions',
      chunked('text/event-stream', ['data: "', ...Array<string>(80).fill(piece)], false),
    );
    const error = await caught(
      (async () => {
        for await (const _ of client().chat.completions.stream(chatBody)) {
        }
      })(),
    );
    expect(error).toMatchObject({ type: 'invalid_response', code: 'event_too_large', requestId: 'req-wire' });
    // The client let go of the connection rather than waiting for the rest.
    await expect.poll(() => abandoned).toContain('/v1/chat/completions');
  }, 15_000);
});
