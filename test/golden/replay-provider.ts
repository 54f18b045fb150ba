import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a golden case's provider answers: JSON, or raw stream bytes exactly as the provider sends them. */
export type ReplayAnswer =
  | { status?: number; json: unknown; headers?: Record<string, string> }
  | { status?: number; stream: string; contentType?: string };

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
        this.received.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, raw });
        const answer = this.answer;
        if ('json' in answer) {
          res.writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...answer.headers });
          res.end(JSON.stringify(answer.json));
        } else {
          res.writeHead(answer.status ?? 200, { 'content-type': answer.contentType ?? 'text/event-stream' });
          res.end(answer.stream);
        }
      });
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  load(answer: ReplayAnswer): void {
    this.answer = answer;
    this.received.length = 0;
  }

  async close(): Promise<void> {
    this.server.close();
    this.server.closeAllConnections();
  }
}
