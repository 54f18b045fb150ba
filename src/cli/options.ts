import { parseArgs } from 'node:util';
import { closeSpelling } from '../config/spelling.js';

/** Every flag of every command, typed for parseArgs; which command takes which is COMMAND_FLAGS. */
const OPTIONS = {
  config: { type: 'string' },
  'data-dir': { type: 'string' },
  workers: { type: 'string' },
  provider: { type: 'string' },
  weight: { type: 'string' },
  name: { type: 'string' },
  scopes: { type: 'string' },
  models: { type: 'string' },
  providers: { type: 'string' },
  templates: { type: 'string' },
  params: { type: 'string' },
  'max-tokens': { type: 'string' },
  rpm: { type: 'string' },
  tpm: { type: 'string' },
  concurrency: { type: 'string' },
  'budget-usd': { type: 'string' },
  'budget-period': { type: 'string' },
  'expires-in': { type: 'string' },
  ip: { type: 'string' },
  user: { type: 'string' },
  guests: { type: 'boolean' },
  client: { type: 'string' },
  'include-revoked': { type: 'boolean' },
  follow: { type: 'boolean', short: 'f' },
  limit: { type: 'string' },
  'write-config': { type: 'string' },
  to: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

type Flag = keyof typeof OPTIONS;

/** Taken by every command; `--version` answers before any command runs. */
const GLOBAL_FLAGS: readonly Flag[] = ['config', 'data-dir', 'json', 'help', 'version'];

/**
 * The flags each command takes besides the global ones. A flag left out here is refused rather
 * than ignored: `tokens create --provider fake` once made a token open to every provider.
 */
const COMMAND_FLAGS: Readonly<Record<string, readonly Flag[]>> = {
  init: [],
  start: ['workers'],
  migrate: [],
  doctor: [],
  'tokens create': [
    'name',
    'scopes',
    'models',
    'providers',
    'templates',
    'max-tokens',
    'rpm',
    'tpm',
    'concurrency',
    'budget-usd',
    'budget-period',
    'expires-in',
    'ip',
    'user',
    'client',
  ],
  'tokens list': ['include-revoked'],
  'tokens show': [],
  'tokens revoke': [],
  'keys list': ['provider'],
  'keys add': ['provider', 'weight'],
  'keys rotate': ['provider'],
  'keys encrypt': ['provider'],
  'keys import-env': ['write-config'],
  'keys disable': [],
  'keys enable': [],
  'keys remove': [],
  'sessions list': ['user', 'include-revoked'],
  'sessions revoke': ['user', 'guests'],
  'templates list': [],
  'templates show': [],
  'templates test': ['params'],
  'audit verify': [],
  'audit tail': ['limit', 'follow'],
  'conversations purge': ['user'],
  'master rotate': [],
  'store copy': ['to'],
  'auth hash-key': [],
};

/**
 * The one argument a command takes after its name, as messages name it; a command not listed
 * takes none. An argument past these is refused rather than ignored: `tokens revoke A B` once
 * revoked A alone and left B live, saying nothing.
 */
const COMMAND_ARGUMENT: Readonly<Record<string, string>> = {
  'tokens show': 'a token id',
  'tokens revoke': 'a token id',
  'keys disable': 'a key id',
  'keys enable': 'a key id',
  'keys remove': 'a key id',
  'sessions revoke': 'a session id',
  'templates show': 'a template name',
  'templates test': 'a template name',
};

/** Commands reading a secret on standard input: an argument given them is likely that secret. */
const READS_SECRET: Readonly<Record<string, string>> = {
  'keys add': 'the key',
  'keys rotate': 'the new key',
  'keys encrypt': 'the key',
  'auth hash-key': 'the client key',
};

export function parse(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, tokens: true });
}

/** A flag as given on the command line: `name` as parseArgs resolves it, `rawName` as typed. */
interface GivenFlag {
  name: string;
  rawName: string;
}

export interface WrongFlag {
  /** The command as COMMAND_FLAGS names it, e.g. `tokens create`. */
  command: string;
  message: string;
}

/** `tokens show ID` is the command `tokens show`; undefined for a command line naming none. */
function commandOf(positionals: readonly string[]): string | undefined {
  const two = positionals.slice(0, 2).join(' ');
  if (Object.hasOwn(COMMAND_FLAGS, two)) return two;
  const one = positionals[0] ?? '';
  return Object.hasOwn(COMMAND_FLAGS, one) ? one : undefined;
}

const spelled = (flags: readonly string[]) => flags.map((flag) => `--${flag}`).join(', ');

function explain(command: string, wrong: GivenFlag): string {
  const own = COMMAND_FLAGS[command] ?? [];
  const close = closeSpelling(wrong.name, [...own, ...GLOBAL_FLAGS]);
  const owners = Object.keys(COMMAND_FLAGS).filter((c) => COMMAND_FLAGS[c]?.some((f) => f === wrong.name));
  const hint = close
    ? `; did you mean --${close}?`
    : owners.length > 0
      ? ` (a flag of ${owners.map((c) => `keyward ${c}`).join(', ')}).`
      : '.';
  const takes = own.length > 0 ? `It takes ${spelled(own)}; every command also takes` : 'It takes only';
  return `keyward ${command} does not take '${wrong.rawName}'${hint} ${takes} --config, --data-dir, --json and --help.`;
}

function firstWrong(positionals: readonly string[], given: readonly GivenFlag[]): WrongFlag | undefined {
  const command = commandOf(positionals);
  // An unknown command is reported by the dispatch, with the list of commands.
  if (command === undefined) return undefined;
  const takes: readonly string[] = [...(COMMAND_FLAGS[command] ?? []), ...GLOBAL_FLAGS];
  const wrong = given.find((flag) => !takes.includes(flag.name));
  return wrong && { command, message: explain(command, wrong) };
}

/** Arguments past those the command takes, explained without repeating them: one may be a secret. */
function extraArgument(positionals: readonly string[]): WrongFlag | undefined {
  const command = commandOf(positionals);
  if (command === undefined) return undefined;
  const takes = Object.hasOwn(COMMAND_ARGUMENT, command) ? COMMAND_ARGUMENT[command] : undefined;
  const given = positionals.length - command.split(' ').length;
  if (given <= (takes === undefined ? 0 : 1)) return undefined;
  const secret = Object.hasOwn(READS_SECRET, command) ? READS_SECRET[command] : undefined;
  const message =
    takes !== undefined
      ? `keyward ${command} takes one argument, ${takes}; it was given ${given}: run it once for each`
      : secret !== undefined
        ? `keyward ${command} takes no argument: ${secret} is read from standard input, never from the command line (which keeps it in the shell's history); pipe it in`
        : `keyward ${command} takes no argument; it was given ${given}`;
  return { command, message };
}

/**
 * The first flag of a parsed command line that its command does not take, or else an argument
 * past those it takes, explained.
 */
export function wrongUsage(parsed: ReturnType<typeof parse>): WrongFlag | undefined {
  const given = parsed.tokens.flatMap((token) => (token.kind === 'option' ? [token] : []));
  return firstWrong(parsed.positionals, given) ?? extraArgument(parsed.positionals);
}

/**
 * For a command line parseArgs refused because a flag is no command's at all: the same
 * explanation, naming the command's flags, as for a flag of another command.
 */
export function unknownFlag(error: unknown, argv: string[]): WrongFlag | undefined {
  if ((error as { code?: unknown }).code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return undefined;
  const loose = parseArgs({
    args: argv,
    options: OPTIONS,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const given = loose.tokens.flatMap((token) => (token.kind === 'option' ? [token] : []));
  return firstWrong(loose.positionals, given) ?? unknownWithoutCommand(loose.positionals, given);
}

/**
 * A flag no command takes, on a command line naming no command (`keyward --bogus`, `keyward tokens
 * --bogus`): said to be unknown, pointing at the help that lists what there is, rather than
 * parseArgs' advice on positional arguments that start with '-'.
 */
function unknownWithoutCommand(
  positionals: readonly string[],
  given: readonly GivenFlag[],
): WrongFlag | undefined {
  const wrong = given.find((flag) => !Object.hasOwn(OPTIONS, flag.name));
  if (!wrong) return undefined;
  const first = positionals[0] ?? '';
  const group = Object.keys(COMMAND_FLAGS).some((command) => command.startsWith(`${first} `)) ? first : '';
  const close = group ? undefined : closeSpelling(wrong.name, GLOBAL_FLAGS);
  const hint = close ? `did you mean --${close}?` : `see keyward ${group && `${group} `}--help`;
  return { command: group, message: `unknown flag '${wrong.rawName}'; ${hint}` };
}
