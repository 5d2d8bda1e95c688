/**
 * chatctl's failures. Each says what went wrong and what to do about it, and carries the exit code:
 * 1 when the operation failed, 2 when the command line was wrong (usage).
 */

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** An operation failed; `message` is shown as is, so it names the fix. */
export class CliError extends Error {
  override name = 'CliError';
  readonly exitCode: number;

  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.exitCode = options.exitCode ?? EXIT_FAILED;
  }
}

/** The command line is wrong (a missing option, two options that exclude each other): exit code 2. */
export class UsageError extends CliError {
  override name = 'UsageError';

  constructor(message: string) {
    super(message, { exitCode: EXIT_USAGE });
  }
}
