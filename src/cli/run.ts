import { parseArgs } from 'node:util';
import { hashClientKey, MIN_CLIENT_KEY_LENGTH } from '../auth/index.js';
import { type CliIO, readStdin } from './io.js';
import { start } from './start.js';

const HELP = `keyward — a self-hosted, secure AI API gateway

Usage:
  keyward start [--config FILE]     run the gateway (config: --config, $KEYWARD_CONFIG or ./keyward.yaml;
                                    without one, providers come from OPENAI_API_KEY, ANTHROPIC_API_KEY,
                                    GEMINI_API_KEY, OLLAMA_BASE_URL and client keys from KEYWARD_API_KEY)
  keyward auth hash-key [--json]    read a client key on stdin, print the sha256: digest for auth.apiKeys.hashes
  keyward --help | --version

Every command accepts --help.
`;

const COMMAND_HELP: Record<string, string> = {
  start: `Usage: keyward start [--config FILE]

Runs the data-plane listener (default 127.0.0.1:8088) and the admin listener (default 127.0.0.1:8089).
SIGTERM or SIGINT stops accepting, lets in-flight requests finish (shutdown.graceMs) and exits 0.
An invalid configuration is reported with the path of each problem and exits 2 before listening.
`,
  'auth hash-key': `Usage: keyward auth hash-key [--json] < key.txt

Reads one client key from standard input and prints the digest to put under auth.apiKeys.hashes,
so that the configuration file never holds the key itself.
`,
};

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
    allowPositionals: true,
  });
}

export async function runCli(argv: string[], io: CliIO): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    io.stderr.write(`keyward: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const command = positionals.join(' ');

  if (values.version) {
    io.stdout.write(`${await version()}\n`);
    return 0;
  }
  if (values.help || command === '' || command === 'help') {
    io.stdout.write(COMMAND_HELP[command] ?? HELP);
    return 0;
  }
  switch (command) {
    case 'start':
      return start({ config: values.config }, io);
    case 'auth hash-key': {
      const key = await readStdin(io.stdin);
      if (key.length < MIN_CLIENT_KEY_LENGTH) {
        io.stderr.write(
          `keyward: a client key must be at least ${MIN_CLIENT_KEY_LENGTH} characters; pipe it on standard input\n`,
        );
        return 2;
      }
      const digest = hashClientKey(key);
      io.stdout.write(values.json ? `${JSON.stringify({ hash: digest })}\n` : `${digest}\n`);
      return 0;
    }
    default:
      io.stderr.write(`keyward: unknown command '${command}'\n\n${HELP}`);
      return 2;
  }
}
