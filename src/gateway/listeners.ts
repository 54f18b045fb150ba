import type { Config } from '../config/index.js';
import type { Listener } from '../http/listen.js';

/** The data-plane and admin listeners, in the order they open. */
export function listenersOf(config: Config): [Listener, Listener] {
  return [
    {
      name: 'data-plane listener',
      setting: 'server.port or KEYWARD_PORT',
      host: config.server.host,
      port: config.server.port,
    },
    {
      name: 'admin listener',
      setting: 'admin.port or KEYWARD_ADMIN_PORT',
      host: config.admin.host,
      port: config.admin.port,
    },
  ];
}
