import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { modelsFromEnv, providersFromEnv } from './env-providers.js';
import { ConfigError, describeConfigIssues } from './errors.js';
import { type Config, type ConfigInput, configSchema } from './schema.js';

export interface LoadOptions {
  /** `--config FILE`; wins over `KEYWARD_CONFIG` and `./keyward.yaml`. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * The file's content as read earlier, instead of reading it now: the workers of
   * `keyward start --workers` configure themselves from what their primary read, so that one
   * replaced after the file changed starts as the others run.
   */
  text?: string | undefined;
}

export interface LoadedConfig {
  config: Config;
  /** Where the configuration came from: a file path or `environment`. */
  source: string;
  /** The file's content as it was read; undefined without a file. */
  text: string | undefined;
}

function findConfigFile(options: LoadOptions, env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  if (options.file) return resolve(cwd, options.file);
  if (env.KEYWARD_CONFIG) return resolve(cwd, env.KEYWARD_CONFIG);
  for (const name of ['keyward.yaml', 'keyward.yml', 'keyward.json']) {
    const candidate = resolve(cwd, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function readConfigText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(path, [`cannot read the file (${reason})`]);
  }
}

function parseConfigText(path: string, text: string): unknown {
  try {
    // YAML 1.2 is a superset of JSON, but JSON.parse gives better positions for .json files.
    return path.endsWith('.json') ? JSON.parse(text) : (parseYaml(text, { uniqueKeys: true }) ?? {});
  } catch (error) {
    const detail = error instanceof Error ? error.message.split('\n')[0] : 'syntax error';
    throw new ConfigError(path, [`not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${detail}`]);
  }
}

function portFromEnv(env: NodeJS.ProcessEnv, name: string, problems: string[]): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) {
    problems.push(`${name}: expected a port number (0-65535)`);
    return undefined;
  }
  return Number(raw);
}

/** The environment overrides DESIGN §3 names; they win over the file. */
function applyEnvOverrides(input: Record<string, unknown>, env: NodeJS.ProcessEnv, source: string): void {
  const problems: string[] = [];
  const server = { ...(input.server as object | undefined) } as Record<string, unknown>;
  const admin = { ...(input.admin as object | undefined) } as Record<string, unknown>;
  if (env.KEYWARD_HOST) server.host = env.KEYWARD_HOST;
  const port = portFromEnv(env, 'KEYWARD_PORT', problems);
  if (port !== undefined) server.port = port;
  const adminPort = portFromEnv(env, 'KEYWARD_ADMIN_PORT', problems);
  if (adminPort !== undefined) admin.port = adminPort;
  if (problems.length > 0) throw new ConfigError(source, problems);
  input.server = server;
  input.admin = admin;
}

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const file = findConfigFile(options, env, cwd);
  const source = file ?? 'environment';

  let input: Record<string, unknown>;
  let text: string | undefined;
  if (file) {
    text = options.text ?? readConfigText(file);
    const raw = parseConfigText(file, text);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new ConfigError(source, ['(root): expected a mapping of settings']);
    }
    input = { ...(raw as Record<string, unknown>) };
  } else {
    const providers = providersFromEnv(env);
    input = {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers,
      models: modelsFromEnv(providers),
    } satisfies ConfigInput;
  }
  applyEnvOverrides(input, env, source);

  const parsed = configSchema.safeParse(input);
  if (!parsed.success) throw new ConfigError(source, describeConfigIssues(parsed.error, configSchema));
  return { config: parsed.data, source, text };
}
