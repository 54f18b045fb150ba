import { hashClientKey, MIN_CLIENT_KEY_LENGTH } from '../auth/index.js';
import { auditCommand } from './audit.js';
import {
  CliError,
  type OfflineContext,
  type OfflineOptions,
  openOffline,
  unknownCommand,
} from './context.js';
import { conversationsCommand } from './conversations.js';
import { doctorCommand } from './doctor.js';
import { initCommand } from './init.js';
import { type CliIO, reportFailure as fail, readStdin, TerminalStdinError } from './io.js';
import { keysCommand } from './keys.js';
import { masterRotateCommand } from './master.js';
import { parse, unknownFlag, wrongUsage } from './options.js';
import { sessionsCommand } from './sessions.js';
import { start } from './start.js';
import { migrateCommand, storeCopyCommand } from './store.js';
import { templatesCommand } from './templates.js';
import { tokensCommand } from './tokens.js';

const HELP = `keyward — a self-hosted, secure AI API gateway

Usage:
  keyward init                      create the data directory, the store, the master key and an admin key
  keyward start                     run the gateway (config: --config, $KEYWARD_CONFIG or ./keyward.yaml;
                                    without one, providers come from OPENAI_API_KEY, ANTHROPIC_API_KEY,
                                    GEMINI_API_KEY, OLLAMA_BASE_URL and client keys from KEYWARD_API_KEY)
  keyward tokens create --name N    mint a gateway token (kw_…), printed once; see keyward tokens --help
  keyward tokens list|show ID|revoke ID
  keyward sessions list [--user U]  browser sessions; keyward sessions revoke ID | --user U | --guests
  keyward templates list|show NAME|test NAME [--params JSON]   prompt templates; test renders without a provider call
  keyward keys list [--provider P]  the stored provider keys (fingerprints only)
  keyward keys add --provider P     store a provider key read from stdin, encrypted
  keyward keys rotate --provider P  store a new key (stdin) and disable the provider's older ones
  keyward keys disable|enable|remove ID
  keyward keys import-env           move plain keys from the environment into the store
  keyward keys encrypt --provider P seal a key (stdin) into an enc: value for the environment or the config
  keyward master rotate             re-seal every stored key under a new master key
  keyward audit verify              check the audit log's HMAC chain: any edited, deleted or reordered record
  keyward audit tail [-f]           the newest audit records (and follow)
  keyward conversations purge [--user U]  delete stored responses and conversations past retention (or a user's)
  keyward migrate                   bring the store's schema up to this version (start does it too)
  keyward doctor                    check what start needs: configuration, master key, store, provider keys
                                    and hosts, Redis, free ports; sends no request or key to any provider
  keyward store copy --to URL       copy the SQLite store into an empty Postgres database
  keyward auth hash-key             read a client key on stdin, print the sha256: digest for auth.apiKeys.hashes
  keyward help COMMAND              a command's help, as keyward COMMAND --help prints it
  keyward --help | --version

Every command accepts --config FILE, --data-dir DIR (default $KEYWARD_DATA_DIR or ./.keyward),
--json for machine-readable output, and --help. Secrets are read from standard input, never from
arguments.
`;

const COMMAND_HELP: Record<string, string> = {
  start: `Usage: keyward start [--config FILE] [--data-dir DIR] [--workers N|auto]

Runs the data-plane listener (default 127.0.0.1:8088) and the admin listener (default 127.0.0.1:8089).
--workers N runs N processes on the same ports (auto: one per core); limits and budgets stay exact
across them without Redis, a worker that dies is replaced, and signals reach every worker.
SIGTERM or SIGINT stops accepting, lets in-flight requests finish (shutdown.graceMs) and exits 0.
SIGHUP re-reads the configuration and applies, without a restart, aliases and routes, rate limits,
budgets, pricing, alerts, the log level and provider keys; the log names any other changed setting
as waiting for a restart.
An invalid configuration is reported with the path of each problem and exits 2 before listening.
`,
  init: `Usage: keyward init [--config FILE] [--data-dir DIR] [--json]

Creates the data directory, the store and, unless KEYWARD_MASTER_KEY or KEYWARD_MASTER_PASSPHRASE
is set, the master key file (mode 0600). Prints a new admin key once ({"adminKey": …} with --json);
the store keeps only its digest. Running it again adds another admin key.
`,
  keys: `Usage: keyward keys <list|add|rotate|disable|enable|remove|import-env|encrypt> [options]

  list [--provider P]            stored keys: id, provider, fingerprint, status, weight, age
  add --provider P [--weight N]  reads the key on stdin; the provider must have keys: { store: true }
  rotate --provider P            reads the new key on stdin, disables the provider's other keys
  disable ID | enable ID | remove ID
  import-env                     stores the plain keys of every keys: { env } provider and prints
                                 what to change in the config and which variables to delete
  import-env --write-config FILE without a config file: stores the environment's provider keys and
                                 writes FILE, whose providers read them from the store
  encrypt --provider P           reads a key on stdin, prints enc:kw1:… for keys.env or keys.values

A running gateway using the same store applies changes within a second; requests in flight finish
on the key they started with.
`,
  tokens: `Usage: keyward tokens <create|list|show|revoke> [options]

  create --name N [--scopes chat,embeddings,models:read,templates,admin,sessions] [--models a,b] [--providers p,q]
         [--templates a,b]  (only these templates; without --scopes the token gets the templates scope only)
         [--max-tokens N] [--rpm N] [--tpm N] [--concurrency N] [--budget-usd X --budget-period day|month|total]
         [--expires-in 30d] [--ip CIDR,…] [--user U] [--client C]
         prints the token (kw_<id>_<secret>) once; the store keeps only a keyed hash of the secret
  list [--include-revoked]       id, name, scopes, expiry
  show ID                        one token's settings (never its secret)
  revoke ID                      immediate here; running gateways stop accepting it within a second
                                 (show and revoke also take a whole token, kw_…, and act on its id)
`,
  sessions: `Usage: keyward sessions <list|revoke> [options]

  list [--user U] [--include-revoked]   id, user, scopes, expiry (never a secret)
  revoke ID | --user U | --guests       one session, every session of user U, or every guest session;
                                        immediate here, running gateways refuse them (and their
                                        refresh tokens) within a second; guests may sign in again
`,
  templates: `Usage: keyward templates <list|show|test> [NAME] [--params JSON] [--json]

  list                    the templates of the configuration file and the store (newest versions)
  show NAME               one template's definition
  test NAME [--params J]  renders the request a run would send, with J's values and samples for the
                          rest; checks the params as the gateway does; calls no provider
`,
  audit: `Usage: keyward audit <verify|tail> [--limit N] [--follow] [--json]

  verify   walks the whole HMAC chain and reports the first edited, deleted, reordered, forged or
           missing (cut tail) record; exits 1 when the chain is broken
  tail     prints the newest records (--limit, default 20); --follow keeps printing new ones
`,
  master: `Usage: keyward master rotate [--config FILE] [--data-dir DIR] [--json]

Re-seals every stored key under a new master key. With a key file, the new key replaces it and
the old one is kept as master.key.previous; a running gateway picks the new key up, and the
command sweeps again until nothing is left under the old key. If it stops short, both files are
kept (a gateway opens both): run it again to finish.
With KEYWARD_MASTER_KEY (or _PASSPHRASE), a gateway learns a new key only at a restart:
  online: restart each instance with KEYWARD_MASTER_KEY=<new> and KEYWARD_PREVIOUS_MASTER_KEY=<old>,
          then run this with the same two; it moves what the old key sealed
  offline (every instance stopped): KEYWARD_NEW_MASTER_KEY=<new> keyward master rotate
KEYWARD_NEW_MASTER_KEY is refused with a key file; to move from the file to the environment, run
the offline rotation with KEYWARD_MASTER_KEY set to the file's contents.
`,
  conversations: `Usage: keyward conversations purge [--user U] [--json]

Deletes the stored responses and conversations older than conversations.ttlDays (a running
gateway also does this every hour). With --user U, deletes everything user U has stored.
`,
  doctor: `Usage: keyward doctor [--config FILE] [--data-dir DIR] [--json]

Checks, from where keyward start would run, what it needs: the configuration, the data directory
and master key (and their file modes), the store (opened with the master key; a SQLite store behind
this Keyward's schema is reported and left as it is, a Postgres one is migrated as start would), an
admin key, each provider's keys (counted, never shown) and host (a
connection opened and closed: no request and no key is sent), Redis when configured, and whether the
listeners' ports are free. Each check prints ok (✓), a warning (!) or a failure (✗) with the fix.
Exits 0 when nothing failed (warnings allowed), 1 otherwise; --json prints {"ok", "checks": [{"name",
"status", "detail", "fix"}]}.
`,
  migrate: `Usage: keyward migrate [--config FILE] [--data-dir DIR] [--json]

Brings the configured store (SQLite, or storage.postgres) up to this Keyward's schema and prints the
versions. keyward start does the same before it listens; instances starting together migrate once.
A store written by a newer Keyward is refused: upgrade Keyward rather than run old code on it.
`,
  store: `Usage: keyward store copy --to postgres://USER@HOST:PORT/DATABASE [--json]

Copies everything in the SQLite store (keys, tokens, usage, audit, sessions, templates,
conversations) into an empty Postgres database in one transaction, then verifies the copied audit
chain there. Keys stay sealed: start the Postgres gateways with the same master key. Stop the
gateways using the SQLite store first. The password goes in PGPASSWORD or ~/.pgpass, never in --to.
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

async function withOffline(
  options: OfflineOptions,
  io: CliIO,
  create: boolean,
  work: (ctx: OfflineContext) => Promise<number>,
): Promise<number> {
  const ctx = await openOffline(options, io, create);
  try {
    return await work(ctx);
  } finally {
    await ctx.close();
  }
}

/** Command groups whose name alone asks for their help. */
const GROUP_HELP: Readonly<Record<string, string>> = {
  tokens: 'tokens',
  keys: 'keys',
  sessions: 'sessions',
  templates: 'templates',
  conversations: 'conversations',
  audit: 'audit',
  master: 'master',
  auth: 'auth hash-key',
  store: 'store',
};

const own = (table: Readonly<Record<string, string>>, key: string) =>
  Object.hasOwn(table, key) ? table[key] : undefined;

/** The help of a command (`tokens create` has its group's), or undefined for no command. */
function helpOf(command: string): string | undefined {
  const first = command.split(' ')[0] ?? '';
  return own(COMMAND_HELP, command) ?? own(COMMAND_HELP, own(GROUP_HELP, first) ?? first);
}

export async function runCli(argv: string[], io: CliIO): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    const wrong = unknownFlag(error, argv);
    const message = wrong?.message ?? (error as Error).message;
    return fail(io, argv.includes('--json'), message, 2, (wrong && helpOf(wrong.command)) ?? HELP);
  }
  const { values, positionals } = parsed;
  const command = positionals.join(' ');
  const offline = { config: values.config, dataDir: values['data-dir'] };

  if (values.version) {
    io.stdout.write(`${await version()}\n`);
    return 0;
  }
  if (positionals[0] === 'help' && positionals.length > 1) {
    const topic = positionals.slice(1).join(' ');
    const help = helpOf(topic);
    if (help === undefined) return fail(io, values.json, `no command '${topic}' to show help for`, 2, HELP);
    io.stdout.write(help);
    return 0;
  }
  const group = positionals.length === 1 && own(GROUP_HELP, command) !== undefined;
  if (values.help || command === '' || command === 'help' || group) {
    io.stdout.write(helpOf(command) ?? HELP);
    return 0;
  }
  const wrong = wrongUsage(parsed);
  if (wrong) return fail(io, values.json, wrong.message, 2, helpOf(wrong.command));
  try {
    switch (positionals[0]) {
      case 'init':
        return await withOffline(offline, io, true, (ctx) => initCommand(ctx, io, values.json));
      case 'keys':
        return await withOffline(offline, io, false, (ctx) =>
          keysCommand(positionals[1] ?? '', positionals.slice(2), { ...values }, ctx, io),
        );
      case 'sessions':
        return await withOffline(offline, io, false, (ctx) =>
          sessionsCommand(positionals[1] ?? '', positionals.slice(2), values, ctx, io),
        );
      case 'tokens':
        return await withOffline(offline, io, false, (ctx) =>
          tokensCommand(positionals[1] ?? '', positionals.slice(2), values, ctx, io),
        );
      case 'templates':
        return await withOffline(offline, io, false, (ctx) =>
          templatesCommand(positionals[1] ?? '', positionals.slice(2), values, ctx, io),
        );
      case 'audit':
        return await withOffline(offline, io, false, (ctx) =>
          auditCommand(positionals[1] ?? '', values, ctx, io),
        );
      case 'conversations':
        return await withOffline(offline, io, false, (ctx) =>
          conversationsCommand(positionals[1] ?? '', values, ctx, io),
        );
      case 'migrate':
        return await migrateCommand(offline, io, values.json);
      case 'doctor':
        return await doctorCommand(offline, io, values.json === true);
      case 'store':
        if (positionals[1] !== 'copy')
          return fail(io, values.json, unknownCommand(positionals), 2, COMMAND_HELP.store);
        return await withOffline(offline, io, false, (ctx) =>
          storeCopyCommand(values.to, ctx, io, values.json),
        );
      case 'master':
        if (positionals[1] !== 'rotate')
          return fail(io, values.json, unknownCommand(positionals), 2, COMMAND_HELP.master);
        return await masterRotateCommand(offline, io, values.json);
    }
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    return fail(io, values.json, error.message, error.code);
  }
  switch (command) {
    case 'start':
      return start({ ...offline, workers: values.workers, json: values.json }, io);
    case 'auth hash-key': {
      let key: string;
      try {
        key = await readStdin(io.stdin, 'keyward auth hash-key');
      } catch (error) {
        if (error instanceof TerminalStdinError) return fail(io, values.json, error.message, 2);
        throw error;
      }
      if (key.length < MIN_CLIENT_KEY_LENGTH) {
        const message = `a client key must be at least ${MIN_CLIENT_KEY_LENGTH} characters; pipe it on standard input`;
        return fail(io, values.json, message, 2);
      }
      const digest = hashClientKey(key);
      io.stdout.write(values.json ? `${JSON.stringify({ hash: digest })}\n` : `${digest}\n`);
      return 0;
    }
    default:
      return fail(io, values.json, unknownCommand(positionals), 2, HELP);
  }
}
