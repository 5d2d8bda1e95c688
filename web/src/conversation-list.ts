/**
 * The conversation list: every conversation of the user, newest activity first, with the last
 * message, an unread badge and, for a 1:1 chat, the peer's presence. It starts from
 * `GET /v1/conversations` and follows the live events from there.
 */
import type { ChatApi, Conversation, Message, Update } from '../../client/index.ts';
import { h, timeOf } from './dom.ts';
import type { People } from './people.ts';

const PAGE = 100;

/** `dm:<a>:<b>` of two users, as the protocol forms it. */
export function dmId(a: string, b: string): string {
  return a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
}

export class ConversationList {
  private readonly items = new Map<string, Conversation>();
  private more = false;
  private loads = 0;
  private shown = 0;
  private readonly api: ChatApi;
  private readonly people: People;
  private readonly me: string;
  private readonly root: HTMLElement;
  /** The conversation shown in the chat pane, if any. */
  openId: string | undefined;
  onOpen: (c: Conversation) => void = () => {};

  constructor(o: { api: ChatApi; people: People; me: string; root: HTMLElement }) {
    this.api = o.api;
    this.people = o.people;
    this.me = o.me;
    this.root = o.root;
  }

  get(cid: string): Conversation | undefined {
    return this.items.get(cid);
  }

  /** Loads the first page again (after a (re)connect); keeps what later pages had. */
  async load(): Promise<void> {
    // Loads may overlap (events trigger them): an answer older than one already shown is dropped.
    const n = ++this.loads;
    const page = await this.api.conversations({ limit: PAGE });
    if (n < this.shown) return;
    this.shown = n;
    for (const c of page.conversations) this.put(c);
    if (this.items.size <= PAGE) this.more = page.more;
    await this.people.load(this.peers());
    this.render();
  }

  private async loadMore(): Promise<void> {
    const last = this.sorted().at(-1);
    const page = await this.api.conversations({ limit: PAGE, before: last?.activityId });
    for (const c of page.conversations) this.put(c);
    this.more = page.more;
    await this.people.load(this.peers());
    this.render();
  }

  /** Keeps one object per conversation (the open chat holds it), brought up to date. */
  private put(c: Conversation): void {
    const had = this.items.get(c.conversation);
    if (had) Object.assign(had, c);
    else this.items.set(c.conversation, c);
  }

  /** The peers of the 1:1 chats (their presence is watched). */
  peers(): string[] {
    return [...this.items.values()].flatMap((c) => (c.peer ? [c.peer] : []));
  }

  /** A 1:1 chat with `peer`, made up locally until its first message. */
  dmWith(peer: string): Conversation {
    const cid = dmId(this.me, peer);
    let c = this.items.get(cid);
    if (!c) {
      c = {
        conversation: cid,
        kind: 'dm',
        peer,
        lastMessage: null,
        readUpTo: '0',
        unread: 0,
        activityId: '0',
      };
      this.items.set(cid, c);
    }
    return c;
  }

  /** A live or synced message: the conversation moves up, and counts it unread unless it is open. */
  message(m: Message, visible: boolean): void {
    let c = this.items.get(m.conversation);
    if (!c) {
      if (!m.conversation.startsWith('dm:')) {
        void this.load();
        return;
      }
      c = this.dmWith(m.from === this.me ? (m.to ?? m.from) : m.from);
      void this.people.get(c.peer!);
    }
    if (BigInt(m.messageId) > BigInt(c.activityId)) {
      c.activityId = m.messageId;
      c.lastMessage = m;
    }
    const read = this.openId === m.conversation && visible;
    if (m.from !== this.me && !read && BigInt(m.messageId) > BigInt(c.readUpTo)) c.unread += 1;
    this.render();
  }

  update(u: Update): void {
    const c = this.items.get(u.conversation);
    if (c?.lastMessage?.messageId !== u.messageId) return;
    c.lastMessage = u.deleted
      ? { ...c.lastMessage, text: '', deleted: true }
      : { ...c.lastMessage, text: u.text ?? '', editedAt: u.ts };
    this.render();
  }

  /** The user read the conversation up to `upTo` (here or on another device). */
  read(cid: string, upTo: string): void {
    const c = this.items.get(cid);
    if (!c || (c.unread === 0 && BigInt(upTo) <= BigInt(c.readUpTo))) return;
    if (BigInt(upTo) > BigInt(c.readUpTo)) c.readUpTo = upTo;
    c.unread = 0;
    this.render();
  }

  renamed(groupId: string, name: string): void {
    const c = this.items.get(`g:${groupId}`);
    if (c?.group) c.group = { ...c.group, name };
    this.render();
  }

  remove(cid: string): void {
    this.items.delete(cid);
    this.render();
  }

  /** The name a conversation goes by. */
  title(c: Conversation): string {
    return c.group ? c.group.name : this.people.name(c.peer ?? '');
  }

  private sorted(): Conversation[] {
    return [...this.items.values()].sort((a, b) => {
      const d = BigInt(b.activityId) - BigInt(a.activityId);
      return d > 0n ? 1 : d < 0n ? -1 : 0;
    });
  }

  render(): void {
    const rows = this.sorted()
      .filter((c) => c.lastMessage !== null || c.kind === 'group' || c.conversation === this.openId)
      .map((c) => this.row(c));
    const more = this.more
      ? h(
          'li',
          {},
          h('button', { class: 'more', text: 'Show more', on: { click: () => void this.loadMore() } }),
        )
      : null;
    this.root.replaceChildren(
      ...(rows.length > 0
        ? rows
        : [h('li', { class: 'empty', text: 'No conversations yet. Find someone to chat with.' })]),
      ...(more ? [more] : []),
    );
  }

  private row(c: Conversation): HTMLElement {
    const title = this.title(c);
    const last = c.lastMessage;
    const preview = last
      ? last.deleted
        ? 'Message deleted'
        : last.text
      : c.kind === 'group'
        ? 'New group'
        : '';
    const from =
      last && c.kind === 'group' ? `${last.from === this.me ? 'You' : this.people.name(last.from)}: ` : '';
    const online = c.peer !== undefined && this.people.online(c.peer);
    const unread = c.unread >= 1000 ? '999+' : String(c.unread);
    const label = [title, online ? 'online' : '', c.unread > 0 ? `${unread} unread` : '']
      .filter(Boolean)
      .join(', ');
    return h(
      'li',
      {},
      h(
        'button',
        {
          class: `conversation${c.conversation === this.openId ? ' open' : ''}`,
          attrs: { 'aria-label': label, 'aria-current': c.conversation === this.openId ? 'true' : undefined },
          on: { click: () => this.onOpen(c) },
        },
        h('span', {
          class: `avatar${online ? ' online' : ''}`,
          text: title.slice(0, 1).toUpperCase(),
          attrs: { 'aria-hidden': 'true' },
        }),
        h(
          'span',
          { class: 'summary' },
          h('span', { class: 'title', text: title }),
          h('span', { class: 'preview', text: from + preview }),
        ),
        h(
          'span',
          { class: 'meta' },
          last ? h('time', { text: timeOf(last.ts) }) : null,
          c.unread > 0 ? h('span', { class: 'badge', text: unread, attrs: { 'aria-hidden': 'true' } }) : null,
        ),
      ),
    );
  }
}
