#!/usr/bin/env node
import { writeCrash } from '../observability/index.js';
import { runCli } from './run.js';

/** An error nothing caught: reported through the one redactor, not by Node, which prints it as it is. */
function crash(error: unknown): never {
  writeCrash(error);
  process.exit(1);
}
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);
// A reader that stopped (`keyward audit tail | head -1`) wants nothing more: the command ends as
// it would have after its last line, rather than as a crash. The gateway's log writes to fd 1
// directly (observability/line-batcher.ts) and drops what it cannot write, so this never ends one.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') crash(error);
  process.exit(0);
});

try {
  process.exitCode = await runCli(process.argv.slice(2), {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
  });
} catch (error) {
  crash(error);
}
