import type { Store } from '../../store/index.js';
import type { MasterKey } from '../master-key.js';

/** What a source may use besides its own config block. */
export interface SourceContext {
  /** The provider the keys are for: part of every ciphertext's binding. */
  provider: string;
  env: NodeJS.ProcessEnv;
  /**
   * The master keys loaded now (the current one first); read at each load so rotation applies.
   * Given the id of the key that sealed a record, ones that open it if any can.
   */
  masters(keyId?: string): readonly MasterKey[];
  store: Store | undefined;
  /** Operator-facing warnings (plain keys in the environment, records that fail to open). */
  warn(message: string): void;
}
