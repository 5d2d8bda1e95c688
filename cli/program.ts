/**
 * chatctl's command tree: one registration per command group (cli/commands/), and `run`, which turns
 * every outcome into an exit code: 0 ok, 1 failed, 2 usage.
 */
import { Command, CommanderError } from 'commander';
import { errorMessage } from '../common/errors.ts';
import { oneOf } from './args.ts';
import { registerChatCommands } from './commands/chat.ts';
import { registerClusterCommands } from './commands/clusters.ts';
import { registerNodeCommands } from './commands/nodes.ts';
import { registerPeopleCommands } from './commands/people.ts';
import { complete, completionScript, SHELLS, type Shell } from './completion.ts';
import type { CliContext } from './context.ts';
import { CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from './errors.ts';
import pkg from './package.json' with { type: 'json' };

const OVERVIEW = `
Commands by what they talk to:
  Kubernetes API   clusters, status, scale,        (--kubeconfig, KUBECONFIG, ~/.kube/config)
                   rollout status
  node admin API   nodes, drain, undrain, shed     (a ChatCluster: through the Kubernetes API, with the
                                                   kubeconfig alone; a node URL: --admin-token)
  chat API         chat, send, history             (--url or CHATCTL_URL, --user, --password)

Examples:
  $ chatctl clusters -A
  $ chatctl status chat -n chat
  $ chatctl scale chat 5 -n chat
  $ chatctl rollout status chat -n chat
  $ chatctl nodes chat -n chat
  $ chatctl drain chat chat-1 -n chat
  $ chatctl drain http://10.0.0.7:9090 --admin-token "$TOKEN"
  $ chatctl chat --user alice --password secret --create --to <userId>

Exit codes: 0 ok, 1 failed, 2 wrong usage. \`chatctl <command> --help\` describes each command.
`;

/** The program with every command registered; commands reach the outside world only through `ctx`. */
export function createProgram(ctx: CliContext, name = 'chatctl'): Command {
  const program = new Command(name)
    .description(
      'Operate a chat platform: ChatClusters on Kubernetes, chat nodes and their sessions, and chat itself.',
    )
    .version(pkg.version, '-V, --version')
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({
      writeOut: (text) => ctx.out(text.replace(/\n$/, '')),
      writeErr: (text) => ctx.err(text.replace(/\n$/, '')),
    })
    .addHelpText('after', OVERVIEW);
  registerClusterCommands(program, ctx);
  registerNodeCommands(program, ctx);
  registerChatCommands(program, ctx);
  registerPeopleCommands(program, ctx);
  program
    .command('completion')
    .summary('print the shell completion script (bash, zsh or fish)')
    .argument('<shell>', SHELLS.join(', '), oneOf(SHELLS))
    .addHelpText(
      'after',
      [
        '\nExamples:',
        '  $ chatctl completion bash > /etc/bash_completion.d/chatctl',
        '  $ source <(chatctl completion bash)',
        '  $ source <(chatctl completion zsh)',
        '  $ chatctl completion fish | source',
        '`kubectl chat` completes by itself: kubectl 1.26 or newer runs kubectl_complete-chat from PATH.\n',
      ].join('\n'),
    )
    .action((shell: Shell) => ctx.out(completionScript(shell).replace(/\n$/, '')));
  // Every subcommand (and theirs: rollout status) reports usage errors through run() instead of
  // exiting by itself.
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const command of all(program)) {
    command.exitOverride().showHelpAfterError('(add --help for usage)');
  }
  return program;
}

/**
 * Runs chatctl with `args` (without `node` and the script); resolves with the exit code. `as` is the
 * name it was run by: `kubectl-chat` (as a kubectl plugin), `kubectl_complete-chat` (kubectl asking
 * for completions), else chatctl.
 */
export async function run(args: readonly string[], ctx: CliContext, as = 'chatctl'): Promise<number> {
  const kubectl = as === 'kubectl-chat' || as === 'kubectl_complete-chat';
  const program = createProgram(ctx, kubectl ? 'kubectl chat' : 'chatctl');
  if (as === 'kubectl_complete-chat' || args[0] === '__complete') {
    // Asked by a shell (or kubectl) at every TAB: the candidates, one per line, never an error.
    const words = as === 'kubectl_complete-chat' ? args : args.slice(1);
    for (const c of complete(program, words.length === 0 ? [''] : words)) ctx.out(c);
    if (as === 'kubectl_complete-chat') ctx.out(':4');
    return EXIT_OK;
  }
  try {
    await program.parseAsync([...args], { from: 'user' });
    return EXIT_OK;
  } catch (err) {
    return failed(err, ctx);
  }
}

/** Prints what went wrong (commander has printed its own already) and returns the exit code. */
function failed(err: unknown, ctx: CliContext): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  if (err instanceof CliError) {
    ctx.err(`chatctl: ${err.message}`);
    if (err instanceof UsageError) ctx.err('(add --help for usage)');
    return err.exitCode;
  }
  ctx.err(`chatctl: unexpected error: ${errorMessage(err)}`);
  if (err instanceof Error && err.stack) ctx.err(err.stack);
  return EXIT_FAILED;
}
