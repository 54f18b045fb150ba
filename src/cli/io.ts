import type { Readable, Writable } from 'node:stream';

export interface CliIO {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
}

/** Secrets come from standard input, never from arguments (they would show in `ps` and history). */
export async function readStdin(stdin: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stdin) text += String(chunk);
  return text.trim();
}
