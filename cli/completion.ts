/**
 * Shell completion: `chatctl completion bash|zsh|fish` prints a script that asks
 * `chatctl __complete <words…>` for the candidates, so the one list of commands and options is the
 * program's own. `kubectl chat <TAB>` asks the `kubectl_complete-chat` executable, which answers in
 * kubectl's plugin format (candidates, then `:4`, "no file completion").
 */
import type { Command, Option } from 'commander';
import { OUTPUT_FORMATS } from './output.ts';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** Values an option takes that completion can list. */
const OPTION_VALUES: Record<string, readonly string[]> = {
  '--output': OUTPUT_FORMATS,
  '--shell': SHELLS,
};

const visible = (cmd: Command) =>
  cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);

function optionFlags(cmd: Command): string[] {
  return [
    ...(cmd.options as Option[]).flatMap((o) => [o.long, o.short]).filter((f): f is string => !!f),
    '--help',
  ];
}

/** The option of `cmd` that `flag` names, if it takes a value. */
function valueOption(cmd: Command, flag: string): Option | undefined {
  const o = (cmd.options as Option[]).find((x) => x.long === flag || x.short === flag);
  return o && (o.required || o.optional) ? o : undefined;
}

/**
 * The command the words name: the first word that is not an option, then (for a command group such
 * as rollout) the next such word when it names one of its subcommands. Undefined when the first
 * names no command.
 */
function commandOf(program: Command, words: readonly string[]): Command | undefined {
  let cmd: Command | undefined;
  for (const w of words) {
    if (w.startsWith('-')) continue;
    const sub = visible(cmd ?? program).find((c) => c.name() === w);
    if (!sub) return cmd;
    cmd = sub;
  }
  return cmd;
}

/**
 * The candidates for the last of `words` (the words after the program name; the last is the one
 * being typed, maybe empty).
 */
export function complete(program: Command, words: readonly string[]): string[] {
  const current = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  const cmd = commandOf(program, before);
  let candidates: readonly string[];
  const previous = before.at(-1);
  const taking = cmd && previous?.startsWith('-') ? valueOption(cmd, previous) : undefined;
  if (taking) {
    candidates = OPTION_VALUES[taking.long ?? ''] ?? taking.argChoices ?? [];
  } else if (cmd?.name() === 'completion' && before.length === 1) {
    candidates = SHELLS;
  } else if (!cmd) {
    candidates = current.startsWith('-') ? ['--help', '--version'] : visible(program).map((c) => c.name());
  } else if (current.startsWith('-')) {
    candidates = optionFlags(cmd);
  } else {
    // A command group (rollout) offers its subcommands until one is typed.
    candidates = visible(cmd).map((c) => c.name());
  }
  return [...new Set(candidates)].filter((c) => c.startsWith(current));
}

/** The completion script for `shell`, for `chatctl` (and `kubectl-chat` invoked by that name). */
export function completionScript(shell: Shell): string {
  switch (shell) {
    case 'bash':
      return `# chatctl completion for bash. Load it with:  source <(chatctl completion bash)
_chatctl() {
  local IFS=$'\\n'
  COMPREPLY=( $(chatctl __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) )
}
complete -o default -F _chatctl chatctl
`;
    case 'zsh':
      return `#compdef chatctl
# chatctl completion for zsh. Load it with:  source <(chatctl completion zsh)
_chatctl() {
  local -a candidates
  candidates=("\${(@f)$(chatctl __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  compadd -a candidates
}
if (( $+functions[compdef] )); then compdef _chatctl chatctl; fi
`;
    case 'fish':
      return `# chatctl completion for fish. Load it with:  chatctl completion fish | source
complete -c chatctl -f -a '(chatctl __complete (commandline -opc)[2..-1] (commandline -ct) 2>/dev/null)'
`;
  }
}
