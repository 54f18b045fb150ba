import type { ProviderRuntime } from '../forward/provider-runtime.js';
import type { KeyState } from '../keys/index.js';
import { type IpcChannel, ipcMessage } from '../limits/index.js';

interface KeyStateMessage {
  keyward: 'key-state';
  provider: string;
  keyId: string;
  state: KeyState;
  until: number;
}

export const isKeyStateMessage = ipcMessage<KeyStateMessage>('key-state');

/**
 * A worker of `--workers N`: every key it finds rate limited, refused or working again is told to
 * the primary, which tells the other workers; what they tell is applied here. So N workers do not
 * each hammer a key the provider is throttling.
 */
export function shareKeyStates(providers: ReadonlyMap<string, ProviderRuntime>, channel: IpcChannel): void {
  for (const runtime of providers.values()) {
    runtime.keys.pool.onChange = (keyId, state, until) =>
      channel.send({
        keyward: 'key-state',
        provider: runtime.id,
        keyId,
        state,
        until,
      } satisfies KeyStateMessage);
  }
  channel.on('message', (message) => {
    if (!isKeyStateMessage(message)) return;
    providers.get(message.provider)?.keys.pool.apply(message.keyId, message.state, message.until);
  });
}
