import { ConfigError } from '../config/index.js';
import { openSqliteStore, type Store } from '../store/index.js';

/** The store, or a configuration error that names the path it could not open. */
export function openStore(path: string, source: string): Store {
  try {
    return openSqliteStore(path);
  } catch (error) {
    throw new ConfigError(source, [`cannot open the store ${path}: ${(error as Error).message}`]);
  }
}
