import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What a golden case's provider answers: JSON, or raw stream bytes exactly as the provider sends
 * them. A stream given as pieces is sent piece by piece, each after the client has received
 * something of the previous one (`released`), so "after output reached the client" is a fact of
 * the test, not a matter of timing.
 */
export type ReplayAnswer =
  | { status?: number; json: unknown; headers?: Record<string, string> }
  | { status?: number; stream: string | string[]; contentType?: string };

export interface Received {
  method: string;
  /** Path and query. */
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
}

/**
 * A provider that answers whatever the current golden case says and records what it was sent:
 * one server for every wire format, since a case carries the provider's exact bytes.
 */
export class ReplayProvider {
  readonly received: Received[] = [];
  private answer: ReplayAnswer = { status: 500, json: { error: 'no case loaded' } };
  /** The answer to the gateway's key probe (a GET of the model list): by default, the key works. */
  private probe: ReplayAnswer = { json: { object: 'list', data: [] } };
  /** Key probes received, kept apart from the case's own exchange. */
  readonly probes: Received[] = [];
  private waiting: Array<() => void> = [];
  private releases = 0;
  private server!: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let raw = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => {
        raw += chunk;
      });
      req.on('end', () => {
        const received = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, raw };
        const probing = req.method === 'GET';
        (probing ? this.probes : this.received).push(received);
        const answer = probing ? this.probe : this.answer;
        if ('json' in answer) {
          res.writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...answer.headers });
          res.end(JSON.stringify(answer.json));
        } else {
          res.writeHead(answer.status ?? 200, { 'content-type': answer.contentType ?? 'text/event-stream' });
          void this.play(res, typeof answer.stream === 'string' ? [answer.stream] : answer.stream);
        }
      });
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  load(answer: ReplayAnswer, probe?: ReplayAnswer): void {
    this.answer = answer;
    this.probe = probe ?? { json: { object: 'list', data: [] } };
    this.received.length = 0;
    this.probes.length = 0;
    this.waiting = [];
    this.releases = 0;
  }

  /** The client received something: the next piece may go. */
  released(): void {
    this.releases++;
    this.waiting.shift()?.();
  }

  private async play(res: ServerResponse, pieces: string[]): Promise<void> {
    for (const [i, piece] of pieces.entries()) {
      if (i > 0 && this.releases < i) await new Promise<void>((resolve) => this.waiting.push(resolve));
      res.write(piece);
    }
    res.end();
  }

  async close(): Promise<void> {
    this.server.close();
    this.server.closeAllConnections();
  }
}
