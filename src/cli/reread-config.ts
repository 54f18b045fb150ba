import { ConfigError, type LoadedConfig, type LoadOptions, loadConfig } from '../config/index.js';

/**
 * The configuration a reload applies (the file re-read, or the `text` a primary read), or
 * undefined with the refusal logged: a file that does not load leaves the running one as it is.
 */
export function rereadConfig(
  options: LoadOptions,
  logger: { error(message: string): void },
): LoadedConfig | undefined {
  try {
    return loadConfig(options);
  } catch (error) {
    const message = error instanceof ConfigError ? error.message : 'unreadable configuration';
    logger.error(`reload refused, keeping the running configuration: ${message}`);
    return undefined;
  }
}
