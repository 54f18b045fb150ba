import { createRequire } from 'node:module';
import type * as Undici from 'undici';

/**
 * The parts of undici a gateway's provider pools use, loaded without undici's index. The index also loads
 * fetch, WebSocket, EventSource and undici's cache, mock and proxy layers: about 3 MB of heap that
 * stays live in every gateway and 6–8 MB of RSS under load (docs/decisions.md, "Memory"). The
 * request API (`dispatcher.request()`) is mixed into Dispatcher.prototype here exactly as the
 * index mixes it in. `test/unit/undici-parts.test.ts` holds these paths to the index's own exports,
 * so an undici release that moves them fails the suite rather than a gateway.
 */
const load = createRequire(import.meta.url);

export const Pool: typeof Undici.Pool = load('undici/lib/dispatcher/pool.js');
export type Pool = Undici.Pool;

const Dispatcher: typeof Undici.Dispatcher = load('undici/lib/dispatcher/dispatcher.js');
Object.assign(Dispatcher.prototype, load('undici/lib/api/index.js'));
