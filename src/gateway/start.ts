import type { Config } from '../config/index.js';
import type { SecretString } from '../keys/index.js';
import type { Resources } from './resources.js';
import type { Telemetry } from './telemetry.js';
import type { GatewayOptions } from './types.js';

/** What the builders share while the gateway starts. */
export interface Start {
  options: GatewayOptions;
  config: Config;
  env: NodeJS.ProcessEnv;
  source: string;
  /** Client keys (`auth.apiKeys.env`) and admin keys (`KEYWARD_ADMIN_KEY`) from the environment. */
  clientKeys: SecretString[];
  adminKeys: SecretString[];
  telemetry: Telemetry;
  resources: Resources;
  /** False before listening and once shutdown has begun (`/ready` says so). */
  state: { serving: boolean };
}
