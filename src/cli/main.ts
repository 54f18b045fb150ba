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
