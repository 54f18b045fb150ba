import { resolve } from 'node:path';
import type { Config } from './schema.js';

export interface DataPaths {
  dataDir: string;
  database: string;
  masterKeyFile: string;
}

/**
 * Where the store and the master key live: the config file's paths when set, else inside the data
 * directory (`--data-dir`, else `KEYWARD_DATA_DIR`, else `./.keyward`). Relative paths are taken
 * from the working directory.
 */
export function dataPaths(
  config: Config,
  env: NodeJS.ProcessEnv,
  dataDirFlag?: string,
  cwd = process.cwd(),
): DataPaths {
  const dataDir = resolve(cwd, dataDirFlag ?? (env.KEYWARD_DATA_DIR || '.keyward'));
  return {
    dataDir,
    database: resolve(cwd, config.storage.sqlite.path ?? resolve(dataDir, 'keyward.db')),
    masterKeyFile: resolve(cwd, config.masterKey.file ?? resolve(dataDir, 'master.key')),
  };
}
