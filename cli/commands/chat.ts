/**
 * `chatctl chat`, `send` and `history`: the chat platform as a user sees it, through the client SDK.
 *
 *   chat: login ──▶ ChatClient (discovery unless --no-discovery, WebSocket, reconnects) ──▶ prints messages
 *         stdin line ──▶ parseChatLine ──▶ send / switch target / history / quit
 *         stdin ends, /quit or Ctrl-C ──▶ waits for unanswered sends ──▶ closes
 */
import { createInterface } from 'node:readline';
import { type Command, InvalidArgumentError } from 'commander';
import { ChatClient, type Session } from '../../client/index.ts';
import { errorMessage } from '../../common/errors.ts';
import { httpUrl, integer } from '../args.ts';
import {
  CHAT_HELP,
  conversationArg,
  conversationOf,
  describeTarget,
  formatMessage,
  parseChatLine,
  targetOf,
} from '../chat-view.ts';
import type { CliContext } from '../context.ts';
import { CliError, UsageError } from '../errors.ts';
import { apiError, ChatApi, type LoginFlags, login, nodeUrl } from '../session.ts';

const example = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;

export type Flags = Omit<LoginFlags, 'url'> & { url?: string };

/** --url, --user, --password, --create: how each chat command logs in. */
export function withLogin(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'any chat node (default: CHATCTL_URL, else http://localhost:8080)', httpUrl)
    .requiredOption('--user <name>', 'the account to log in as')
    .option('--password <pw>', 'its password (default: CHATCTL_PASSWORD)')
    .option('--create', 'create the account first (an existing one is fine)');
}

export async function open(
  ctx: CliContext,
  flags: Flags,
): Promise<{ api: ChatApi; session: Session; url: string }> {
  let url: string;
  try {
    url = nodeUrl(flags.url, ctx.env);
    httpUrl(url);
  } catch (err) {
    throw new UsageError(
      `CHATCTL_URL ${err instanceof InvalidArgumentError ? err.message : errorMessage(err)}`,
    );
  }
  const api = new ChatApi(url);
  const session = await login(api, { ...flags, url }, ctx.env, (line) => ctx.err(line));
  return { api, session, url };
}

/** Prints the newest `limit` messages of a conversation, oldest first. */
async function printHistory(
  ctx: CliContext,
  api: ChatApi,
  url: string,
  session: Session,
  conversation: string,
  options: { limit?: number; before?: string },
): Promise<number> {
  let messages: Awaited<ReturnType<ChatApi['history']>>;
  try {
    messages = await api.history(conversation, options);
  } catch (err) {
    throw apiError(err, url);
  }
  if (messages.length === 0) ctx.err(`no messages in ${conversation}`);
  for (const m of [...messages].reverse()) ctx.out(formatMessage(m, session.userId));
  return messages.length;
}

/** The interactive session of `chatctl chat`; resolves when it ends, rejects when sends failed. */
async function chatSession(
  ctx: CliContext,
  flags: Flags & { to?: string; group?: string; discovery: boolean },
): Promise<void> {
  let target = targetOf(flags, true);
  const { api, session, url } = await open(ctx, flags);
  ctx.err(`logged in as ${flags.user} (user id ${session.userId}) on ${url}`);
  const client = new ChatClient({ baseUrl: url, token: session.token, discover: flags.discovery });
  client.on('message', (m) => ctx.out(formatMessage(m, session.userId)));
  client.on('connected', (c) => ctx.err(`connected to ${c.url}`));
  client.on('disconnected', (d) =>
    ctx.err(
      `connection lost (${d.code}${d.reason ? ` ${d.reason}` : ''})${d.willReconnect ? '; reconnecting…' : ''}`,
    ),
  );
  client.on('reconnect', (r) => ctx.err(`the node asked this client to move (${r.reason}); moving…`));
  const connected = client.connect();
  const timeout = ctx.sleep(15_000).then(() => {
    throw new CliError(
      `no WebSocket connection to ${url} after 15 s: is the node ready? (curl ${url}/readyz)`,
    );
  });
  try {
    await Promise.race([connected, timeout]);
  } catch (err) {
    client.close();
    throw err;
  }
  ctx.err(`talking to ${describeTarget(target)}; /help lists the commands, Ctrl-D leaves`);

  const sends: Promise<void>[] = [];
  let failed = 0;
  const rl = createInterface({ input: ctx.stdin, crlfDelay: Number.POSITIVE_INFINITY, terminal: false });
  const ended = new Promise<void>((resolve) => rl.once('close', resolve));
  rl.on('line', (line) => {
    const cmd = parseChatLine(line);
    switch (cmd.kind) {
      case 'send':
        if (!target) ctx.err('nobody to send to: /to <userId> or /group <groupId> first');
        else {
          const sent = client.send({ ...target, text: cmd.text }).then(
            () => undefined,
            (err: unknown) => {
              failed++;
              ctx.err(`not sent: ${errorMessage(err)}`);
            },
          );
          sends.push(sent);
        }
        break;
      case 'to':
        target = { to: cmd.userId };
        ctx.err(`talking to ${describeTarget(target)}`);
        break;
      case 'group':
        target = { group: cmd.groupId };
        ctx.err(`talking to ${describeTarget(target)}`);
        break;
      case 'history':
        if (!target) ctx.err('no conversation yet: /to <userId> or /group <groupId> first');
        else {
          const conversation = conversationOf(target, session.userId);
          sends.push(
            printHistory(ctx, api, url, session, conversation, { limit: 20 }).then(
              () => undefined,
              (err: unknown) => ctx.err(errorMessage(err)),
            ),
          );
        }
        break;
      case 'help':
        for (const l of CHAT_HELP) ctx.err(l);
        break;
      case 'quit':
        rl.close();
        break;
      case 'unknown':
        ctx.err(`unknown command /${cmd.command}; /help lists them`);
        break;
      case 'empty':
        break;
    }
  });
  await Promise.race([ended, ctx.interrupted()]);
  rl.close();
  await Promise.all(sends);
  client.close();
  if (failed > 0) throw new CliError(`${failed} messages were not sent (see above)`);
}

export function registerChatCommands(program: Command, ctx: CliContext): void {
  withLogin(
    program
      .command('chat')
      .summary('chat from the terminal (stdin lines out, messages in)')
      .description(
        'Chat from the terminal: log in, print every incoming message, send each line typed (or piped) on ' +
          'stdin to --to or --group; /to, /group, /history, /quit switch or leave',
      ),
  )
    .option('--to <userId>', 'send lines to this user')
    .option('--group <groupId>', 'send lines to this group')
    .option(
      '--no-discovery',
      'hold the WebSocket with --url itself, not the node discovery names (e.g. through a port-forward)',
    )
    .addHelpText(
      'after',
      example(
        'chatctl chat --url http://localhost:8080 --user alice --password secret --create --to <bob’s userId>',
        'echo hello | chatctl chat --user alice --password secret --group <groupId>',
      ),
    )
    .action(async (o: Flags & { to?: string; group?: string; discovery: boolean }) => chatSession(ctx, o));

  withLogin(
    program
      .command('send')
      .summary('send one message')
      .description('Send one message and print its id and conversation (for chatctl history)'),
  )
    .option('--to <userId>', 'the user to send to')
    .option('--group <groupId>', 'the group to send to')
    .requiredOption('--text <text>', 'the message')
    .addHelpText(
      'after',
      example('chatctl send --user alice --password secret --to <bob’s userId> --text "hello"'),
    )
    .action(async (o: Flags & { to?: string; group?: string; text: string }) => {
      const target = targetOf(o)!;
      const { api, url } = await open(ctx, o);
      try {
        const posted = await api.postMessage({ ...target, text: o.text });
        ctx.out(`sent ${posted.messageId} in ${posted.conversation}`);
      } catch (err) {
        throw apiError(err, url);
      }
    });

  withLogin(
    program
      .command('history')
      .summary("print a conversation's messages")
      .argument(
        '<conversation>',
        'dm:<userA>:<userB> or g:<groupId> (as send prints it), @<userId> or #<groupId>',
      )
      .description("Print a conversation's messages, oldest first (the newest --limit of them)"),
  )
    .option('--limit <n>', 'at most this many messages (the node caps it at 200)', integer(1, 1000), 50)
    .option('--before <messageId>', 'only messages older than this one (paging back)')
    .addHelpText(
      'after',
      example(
        'chatctl history @<bob’s userId> --user alice --password secret',
        'chatctl history g:<groupId> --user alice --password secret --limit 200',
      ),
    )
    .action(async (conversation: string, o: Flags & { limit: number; before?: string }) => {
      conversationArg(conversation, 'self'); // a usage error before any network call
      const { api, session, url } = await open(ctx, o);
      const cid = conversationArg(conversation, session.userId);
      const options = o.before === undefined ? { limit: o.limit } : { limit: o.limit, before: o.before };
      await printHistory(ctx, api, url, session, cid, options);
    });
}
