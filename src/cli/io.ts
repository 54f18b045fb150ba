import type { Readable, Writable } from 'node:stream';

export interface CliIO {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
}

/** Standard input is a terminal: a secret typed there would show on screen. */
export class TerminalStdinError extends Error {
  override name = 'TerminalStdinError';
}

/** A word for a shell command line: as it is when nothing in it is special, else single-quoted. */
export const shellWord = (word: string): string =>
  /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;

/**
 * Secrets come from standard input, never from arguments (they would show in `ps` and history).
 * A terminal is refused at once: the secret typed would be echoed with no prompt, and the command
 * would seem to hang until Ctrl-D. `command` is the caller's own command line, named in the error
 * with the way to pipe the secret to it.
 */
export async function readStdin(stdin: Readable, command: string): Promise<string> {
  if ((stdin as Readable & { isTTY?: boolean }).isTTY) {
    throw new TerminalStdinError(
      `standard input is a terminal, where a secret typed would show on screen; pipe it instead: ${command} < key.txt, or printf %s "$KEY" | ${command}`,
    );
  }
  let text = '';
  for await (const chunk of stdin) text += String(chunk);
  return text.trim();
}

/**
 * Control characters other than newline and tab, and bidirectional overrides, which text from the
 * store (a token's name, a user id) could use to rewrite what an operator's terminal shows.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const UNSAFE_FOR_TERMINAL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Text for a person's terminal: each unsafe character is shown escaped, as `\u001b`. */
export const terminalSafe = (text: string): string =>
  text.replace(UNSAFE_FOR_TERMINAL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** One failure on stderr: a line for people, or `{"error":{"message","exitCode"}}` with --json. */
export function reportFailure(
  io: CliIO,
  json: boolean | undefined,
  message: string,
  exitCode: number,
  help = '',
): number {
  io.stderr.write(
    json
      ? `${JSON.stringify({ error: { message, exitCode } })}\n`
      : `keyward: ${terminalSafe(message)}\n${help && `\n${help}`}`,
  );
  return exitCode;
}
