import type { ProviderRuntime } from '../forward/provider-runtime.js';
import type { KeyState } from '../keys/index.js';
import { type IpcChannel, ipcMessage } from '../limits/index.js';

interface KeyStateMessage {
  keyward: 'key-state';
  provider: string;
  keyId: string;
  state: KeyState;
  until: number;
  /** Set when the state is the key's for this model alone. */
  model?: string;
  /** The fingerprint of the key's value: key ids are positional, a note is about one value. */
  fingerprint: string;
}

export const isKeyStateMessage = ipcMessage<KeyStateMessage>('key-state');

/**
 * A worker of `--workers N`: every key it finds rate limited (for a model or for all), refused or
 * working again is told to the primary, which tells the other workers; what they tell is applied
 * here. So N workers do not each hammer a key the provider is throttling.
 */
export function shareKeyStates(providers: ReadonlyMap<string, ProviderRuntime>, channel: IpcChannel): void {
  for (const runtime of providers.values()) {
    runtime.keys.pool.onChange = (change) =>
      channel.send({ keyward: 'key-state', provider: runtime.id, ...change } satisfies KeyStateMessage);
  }
  channel.on('message', (message) => {
    if (!isKeyStateMessage(message)) return;
    const { provider, keyId, state, until, model, fingerprint } = message;
    providers.get(provider)?.keys.pool.apply(keyId, state, until, undefined, model, fingerprint);
  });
}
