import type { EntryOptions } from '@napi-rs/keyring';
import type { KeyringSourceConfig } from '../../config/key-sources.js';
import { SecretString } from '../secret-string.js';
import { KeySourceError } from './errors.js';
import { splitKeyList } from './split.js';
import type { KeySource, SourcedKey } from './types.js';

/** A failure to reach the Secret Service at all, as opposed to a refusal by a running keyring. */
function isBusFailure(error: unknown): boolean {
  return error instanceof Error && /d-?bus|org\.freedesktop\.secrets/i.test(error.message);
}

/** What a keyring failure is about, judged from the library's message without quoting it. */
function describeFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : '';
  if (error instanceof Error && error.name === 'AbortError') return 'the read was aborted';
  if (/lock/i.test(message)) return 'the keyring is locked; unlock it (for gnome-keyring: --unlock at start)';
  if (/ambiguous/i.test(message)) return 'several keyring items match this service and account';
  return 'the platform keyring refused the read';
}

/** Keys from the OS keyring (macOS Keychain, Windows Credential Manager, Linux Secret Service). */
export function createKeyringSource(
  config: KeyringSourceConfig,
  context: { provider: string; env: NodeJS.ProcessEnv },
): KeySource {
  const location = `${config.service}/${config.account}`;
  const where = `keyring entry ${location} (provider ${context.provider})`;

  async function read(signal: AbortSignal | undefined): Promise<string | null> {
    // Loaded on first use: a native addon that only keyring deployments need.
    const { AsyncEntry } = await import('@napi-rs/keyring');
    // AsyncEntry rather than Entry: a Secret Service call waiting on an unresponsive D-Bus daemon
    // would otherwise block the event loop and stall every request the gateway serves.
    const get = (options?: EntryOptions) =>
      new AsyncEntry(config.service, config.account, options).getPassword(signal);
    if (process.platform !== 'linux') return get();
    try {
      // Pinned rather than the library's silent fallback, so that an unreachable Secret Service is
      // reported as such instead of as a missing entry in the kernel keyring.
      return await get({ linux: { store: 'secret-service' } });
    } catch (error) {
      if (!isBusFailure(error)) throw error;
      // Headless hosts without a Secret Service can hold the key in the kernel keyring instead,
      // which is where the library itself would have looked.
      const fallback = await get({ linux: { store: 'keyutils' } }).catch(() => null);
      if (fallback !== null) return fallback;
      const bus = context.env.DBUS_SESSION_BUS_ADDRESS
        ? 'none answers on the session bus at DBUS_SESSION_BUS_ADDRESS'
        : 'DBUS_SESSION_BUS_ADDRESS is not set';
      throw new KeySourceError(
        `${where}: no Secret Service is reachable (${bus}; start a keyring daemon such as ` +
          'gnome-keyring on the session bus) and the kernel keyring has no such entry',
      );
    }
  }

  return {
    kind: 'keyring',
    describe: `keyring ${location}`,
    refreshMs: config.refreshSeconds * 1000,
    timeoutMs: config.timeoutSeconds * 1000,
    async load(signal?: AbortSignal): Promise<SourcedKey[]> {
      let raw: string | null;
      try {
        raw = await read(signal);
      } catch (error) {
        if (error instanceof KeySourceError) throw error;
        throw new KeySourceError(`${where}: ${describeFailure(error)}`);
      }
      if (raw === null) {
        throw new KeySourceError(
          `${where} does not exist; store it under service "${config.service}" and account "${config.account}"`,
        );
      }
      return splitKeyList(raw, where).map((value, i) => ({
        id: `keyring:${location}#${i + 1}`,
        secret: new SecretString(value),
      }));
    },
  };
}
