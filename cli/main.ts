#!/usr/bin/env node
/**
 * chatctl, the chat platform's operator CLI (`chatctl --help`; in this repo `npm run chatctl -- --help`). The only file of cli/ that
 * reads process.env, the standard streams and signals; everything else gets them through CliContext.
 */
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CliContext } from './context.ts';
import { run } from './program.ts';

// `chatctl … | head` closes the pipe early: that is the reader's choice, not a failure.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const ctx: CliContext = {
  env: process.env,
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  stdin: process.stdin,
  now: Date.now,
  sleep: (ms) => sleep(ms),
  interrupted: () =>
    new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    }),
};

// Installed, chatctl is also `kubectl-chat` (a kubectl plugin) and `kubectl_complete-chat`.
const as = basename(process.argv[1] ?? 'chatctl').replace(/\.(js|ts)$/, '');
process.exitCode = await run(process.argv.slice(2), ctx, as);
// A timer or socket still open (a timeout that lost its race, a keep-alive connection) must not
// hold the exit back; standard output and error are written synchronously to files and pipes.
setTimeout(() => process.exit(), 50);
