import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { BlockList, isIP, type Socket } from 'node:net';
import { addressSubject } from '../auth/address-subject.js';
import type { Config } from '../config/index.js';
import { GatewayError } from '../errors/gateway-error.js';
import { openAIErrorBody } from '../surfaces/openai/envelope.js';
import { type TlsConfig, tlsOptions } from './tls.js';

type ServerConfig = Config['server'];

/** Why a connection was turned away, for metrics. */
export type ConnectionRefusal = 'max_connections' | 'per_address';

/**
 * Fastify options that bound how long a connection may hold the listener without a request.
 *
 * Node closes a connection whose request head is incomplete `headersTimeout` after it connected
 * (or after the first byte of a later request on a kept-alive one), but only when its periodic
 * check runs, every `connectionsCheckingInterval`: with Node's and Fastify's defaults that was
 * 60 s + 15 s on the data listener and 60 s + 30 s on the admin one. The check interval is kept
 * short so the bound is `headersTimeoutMs` plus at most a second. A connection idle between
 * requests is not "active" for that check: `keepAliveTimeout` (a socket timeout) closes it.
 */
export function listenerTimeouts(server: ServerConfig) {
  const headersTimeout = Math.min(server.headersTimeoutMs, server.requestTimeoutMs);
  return {
    // Fastify disables Node's request timeout; a gateway facing clients directly needs it.
    requestTimeout: server.requestTimeoutMs,
    keepAliveTimeout: server.keepAliveTimeoutMs,
    http: {
      // A Host-less HTTP/1.1 request is refused by the routes, in the gateway's envelope
      // (`faultyHead`), not by Node with a bare 400.
      requireHostHeader: false,
      headersTimeout,
      connectionsCheckingInterval: Math.min(1_000, Math.max(50, Math.floor(headersTimeout / 4))),
    },
  };
}

/**
 * A listener's Fastify options: the bounds above, and TLS when configured. Fastify hands `http` to
 * `http.createServer` only; an https listener takes the same server options inside `https`.
 */
export function listenerOptions(server: ServerConfig, tls: TlsConfig | undefined) {
  const timeouts = listenerTimeouts(server);
  return tls ? { ...timeouts, https: { ...tlsOptions(tls), ...timeouts.http } } : timeouts;
}

/** Proxy-addr's named ranges, which `server.trustProxy` may use as Fastify does. */
const NAMED_RANGES: Record<string, string[]> = {
  loopback: ['127.0.0.1/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/** Whether a peer address is one of the trusted proxies, which carry many clients' connections. */
export function trustedPeers(trustProxy: readonly string[]): (address: string) => boolean {
  if (trustProxy.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of trustProxy.flatMap((e) => NAMED_RANGES[e] ?? [e])) {
    const [address = '', bits] = entry.split('/');
    const family = isIP(address);
    if (family === 0) continue;
    const type = family === 4 ? 'ipv4' : 'ipv6';
    list.addSubnet(address, bits === undefined ? (family === 4 ? 32 : 128) : Number(bits), type);
  }
  return (address) => {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return list.check(mapped[1]!, 'ipv4');
    return list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  };
}

function refusal(): string {
  const error = new GatewayError(
    503,
    'service_unavailable',
    'Too many open connections from your address: reuse or close idle connections, then retry',
    { code: 'too_many_connections' },
  );
  const body = JSON.stringify(openAIErrorBody(error));
  return (
    'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n' +
    `x-request-id: ${randomUUID()}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/** How long a refused connection may linger to let its 503 be read before it is cut. */
const REFUSED_LINGER_MS = 1_000;

/**
 * Caps a listener's open connections: beyond `maxConnections` Node closes new ones at once;
 * beyond `maxConnectionsPerAddress` from one peer (an IPv6 peer's whole /64; trusted proxies
 * exempt) the connection gets a 503 and is closed before any HTTP parsing. Counting costs a map
 * update per connection, nothing per request.
 */
export function limitConnections(
  server: Server,
  limits: Pick<ServerConfig, 'maxConnections' | 'maxConnectionsPerAddress'>,
  exempt: (address: string) => boolean,
  onRefused: (reason: ConnectionRefusal) => void,
): void {
  server.maxConnections = limits.maxConnections;
  server.on('drop', () => onRefused('max_connections'));
  const open = new Map<string, number>();
  const release = (address: string) => {
    const left = (open.get(address) ?? 1) - 1;
    if (left <= 0) open.delete(address);
    else open.set(address, left);
  };
  // The HTTP server's own listener runs only for admitted connections.
  const handlers = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    if (address === undefined) {
      socket.destroy();
      return;
    }
    if (!exempt(address)) {
      const subject = addressSubject(address);
      const count = open.get(subject) ?? 0;
      if (count >= limits.maxConnectionsPerAddress) {
        refuse(socket);
        onRefused('per_address');
        return;
      }
      open.set(subject, count + 1);
      socket.once('close', () => release(subject));
    }
    for (const handler of handlers) handler.call(server, socket);
  });
}

function refuse(socket: Socket): void {
  socket.on('error', () => {});
  socket.end(refusal());
  // Read and drop what the client sends, so that its request does not turn our close into a reset.
  socket.resume();
  socket.setTimeout(REFUSED_LINGER_MS, () => socket.destroy());
}
