export { hashClientKey } from './auth/index.js';
export { type Config, ConfigError, type ConfigInput, loadConfig } from './config/index.js';
export { createGateway, type Gateway, type GatewayOptions } from './gateway/index.js';
