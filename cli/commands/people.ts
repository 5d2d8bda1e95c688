/**
 * `chatctl conversations` (the user's conversations with unread counts) and `chatctl user` (find a
 * user by username, or by prefix with --prefix), through the client SDK's HTTP calls.
 */
import type { Command } from 'commander';
import { integer } from '../args.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';
import { conversationTable, profileTable } from '../people-view.ts';
import { apiError } from '../session.ts';
import { type Flags, open, withLogin } from './chat.ts';

const example = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;

export function registerPeopleCommands(program: Command, ctx: CliContext): void {
  withLogin(
    program
      .command('conversations')
      .summary('list your conversations with unread counts')
      .description(
        'List the conversations of --user, newest activity first, with unread counts (1000+ at the cap)',
      ),
  )
    .option('--limit <n>', 'at most this many (the node caps it at 200)', integer(1, 200), 50)
    .option('--before <activityId>', 'only conversations with older activity (paging on)')
    .addHelpText('after', example('chatctl conversations --user alice --password secret'))
    .action(async (o: Flags & { limit: number; before?: string }) => {
      const { api, url } = await open(ctx, o);
      try {
        const page = await api.conversations(
          o.before === undefined ? { limit: o.limit } : { limit: o.limit, before: o.before },
        );
        for (const line of conversationTable(page.conversations)) ctx.out(line);
        if (page.more) ctx.err(`more: --before ${page.conversations.at(-1)!.activityId}`);
      } catch (err) {
        throw apiError(err, url);
      }
    });

  withLogin(
    program
      .command('user')
      .summary('find a user by username')
      .argument('<username>', 'the exact username (or a prefix, with --prefix)')
      .description(
        'Print the profile of the user with this username (its user id for send --to); exit 1 if none',
      ),
  )
    .option('--prefix', 'list the users whose username starts with it instead')
    .addHelpText(
      'after',
      example(
        'chatctl user bob --user alice --password secret',
        'chatctl user bo --prefix --user alice --password secret',
      ),
    )
    .action(async (username: string, o: Flags & { prefix?: boolean }) => {
      const { api, url } = await open(ctx, o);
      let found: Awaited<ReturnType<typeof api.searchUsers>>;
      try {
        found = o.prefix
          ? await api.searchUsers(username, 50)
          : [await api.findUser(username)].filter((p) => p !== undefined);
      } catch (err) {
        throw apiError(err, url);
      }
      if (found.length === 0)
        throw new CliError(`no user ${o.prefix ? 'starts with' : 'is named'} ${username}`);
      for (const line of profileTable(found)) ctx.out(line);
    });
}
