/**
 * One open conversation: its history (the newest page first, older pages as the log is scrolled to
 * the top), live messages, sends that wait while the connection is down, edits and deletes of the
 * user's own messages, who is typing, and how far the others have read ("Seen").
 */
import type { ChatApi, ChatClient, Conversation, Message, Update } from '../../client/index.ts';
import { h, messageOf, timeOf } from './dom.ts';
import type { People } from './people.ts';

/** Messages per history page. */
const PAGE = 30;
/** Messages kept for one open conversation; older ones are dropped (scrolling back loads them again). */
const MAX_MESSAGES = 2000;
/** The log counts as scrolled to the top (load older) or the bottom (follow new ones) within this. */
const EDGE_PX = 40;

interface Pending {
  id: string;
  text: string;
  createdAt: number;
  failed?: string;
}

const byId = (a: { messageId: string }, b: { messageId: string }) => {
  const d = BigInt(a.messageId) - BigInt(b.messageId);
  return d > 0n ? 1 : d < 0n ? -1 : 0;
};

export class ChatView {
  readonly conversation: Conversation;
  readonly cid: string;
  private readonly api: ChatApi;
  private readonly client: ChatClient;
  private readonly people: People;
  private readonly me: string;
  private readonly messages = new Map<string, Message>();
  private readonly pending = new Map<string, Pending>();
  /** Read positions of the other participants. */
  private readonly receipts = new Map<string, string>();
  private readonly typing = new Map<string, number>();
  private typingTimer: ReturnType<typeof setTimeout> | undefined;
  private editing: string | undefined;
  private olderThan: string | undefined;
  private hasOlder = true;
  private loadingOlder = false;
  private closed = false;
  readonly root: HTMLElement;
  private readonly log: HTMLOListElement;
  private readonly typingLine: HTMLElement;
  private readonly olderButton: HTMLButtonElement;
  private readonly input: HTMLTextAreaElement;
  private readonly notice: HTMLElement;
  /** The user read up to this message here (the list's badge clears). */
  onRead: (cid: string, upTo: string) => void = () => {};

  constructor(o: {
    conversation: Conversation;
    title: string;
    api: ChatApi;
    client: ChatClient;
    people: People;
    me: string;
    header: HTMLElement;
  }) {
    this.conversation = o.conversation;
    this.cid = o.conversation.conversation;
    this.api = o.api;
    this.client = o.client;
    this.people = o.people;
    this.me = o.me;
    this.olderButton = h('button', {
      class: 'older',
      text: 'Load older messages',
      on: { click: () => void this.loadOlder() },
    });
    this.log = h('ol', {
      class: 'log',
      attrs: { role: 'log', 'aria-label': `Messages with ${o.title}`, 'aria-live': 'polite', tabindex: 0 },
      on: { scroll: () => this.scrolled() },
    });
    this.typingLine = h('p', { class: 'typing', attrs: { 'aria-live': 'polite' } });
    this.notice = h('p', { class: 'notice', attrs: { role: 'alert' } });
    this.input = h('textarea', {
      attrs: { rows: 1, placeholder: 'Write a message', 'aria-label': 'Message', maxlength: 100000 },
      on: {
        keydown: (e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            this.send();
          }
        },
        input: () => {
          if (this.input.value.trim() !== '') this.client.typing(this.cid);
        },
      },
    });
    const composer = h(
      'form',
      {
        class: 'composer',
        attrs: { 'aria-label': 'Send a message' },
        on: {
          submit: (e) => {
            e.preventDefault();
            this.send();
          },
        },
      },
      this.input,
      h('button', { class: 'primary', text: 'Send', attrs: { type: 'submit' } }),
    );
    this.root = h(
      'section',
      { class: 'chat', attrs: { 'aria-label': `Chat with ${o.title}` } },
      o.header,
      h('div', { class: 'log-wrap' }, this.olderButton, this.log),
      this.typingLine,
      this.notice,
      composer,
    );
  }

  /** Loads the newest page and the read positions, then shows them. */
  async start(): Promise<void> {
    await Promise.all([this.loadLatest(), this.loadReceipts()]);
    this.input.focus();
  }

  /** After a reconnect: the newest page again (what came meanwhile), and the read positions. */
  async refresh(): Promise<void> {
    await Promise.all([this.loadLatest(), this.loadReceipts()]);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.typingTimer);
  }

  focus(): void {
    this.input.focus();
  }

  private async loadLatest(): Promise<void> {
    if (this.conversation.kind === 'dm' && this.conversation.activityId === '0' && this.messages.size === 0) {
      // A chat made up locally: nothing stored yet (a 403 would only say so).
      this.hasOlder = false;
      this.render(true);
      return;
    }
    const page = await this.api.history(this.cid, { limit: PAGE });
    if (this.closed) return;
    for (const m of page) this.messages.set(m.messageId, m);
    if (this.olderThan === undefined) {
      this.olderThan = page.at(-1)?.messageId;
      this.hasOlder = page.length === PAGE;
    }
    await this.people.load([...new Set(page.map((m) => m.from))]);
    this.render(true);
    this.markRead();
  }

  private async loadReceipts(): Promise<void> {
    if (this.conversation.activityId === '0' && this.conversation.kind === 'dm') return;
    const receipts = await this.api.receipts(this.cid);
    for (const r of receipts) if (r.userId !== this.me) this.receipts.set(r.userId, r.upTo);
    this.render(false);
  }

  /** The page before the oldest message shown, keeping the view where it was. */
  private async loadOlder(): Promise<void> {
    if (this.loadingOlder || !this.hasOlder || this.olderThan === undefined) return;
    this.loadingOlder = true;
    try {
      const page = await this.api.history(this.cid, { before: this.olderThan, limit: PAGE });
      if (this.closed) return;
      await this.people.load([...new Set(page.map((m) => m.from))]);
      const before = this.log.scrollHeight - this.log.scrollTop;
      for (const m of page) this.messages.set(m.messageId, m);
      this.olderThan = page.at(-1)?.messageId ?? this.olderThan;
      this.hasOlder = page.length === PAGE;
      this.render(false);
      this.log.scrollTop = this.log.scrollHeight - before;
    } catch (err) {
      this.notice.textContent = `Could not load older messages: ${messageOf(err)}`;
    } finally {
      this.loadingOlder = false;
    }
  }

  private scrolled(): void {
    if (this.log.scrollTop <= EDGE_PX) void this.loadOlder();
    if (this.atBottom()) this.markRead();
  }

  private atBottom(): boolean {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight <= EDGE_PX;
  }

  /** A message of this conversation, live or synced. */
  message(m: Message): void {
    if (this.messages.has(m.messageId)) return;
    this.messages.set(m.messageId, m);
    if (this.typing.delete(m.from)) this.renderTyping();
    for (const [id, p] of this.pending) {
      // The node's copy of a send may come before its `sent`: the same text, sent since, is it.
      if (m.from === this.me && m.text === p.text && m.ts >= p.createdAt - 5000) this.pending.delete(id);
    }
    if (this.messages.size > MAX_MESSAGES) this.trim();
    void this.people.get(m.from);
    const follow = this.atBottom() || m.from === this.me;
    this.render(follow);
    this.markRead();
  }

  update(u: Update): void {
    const m = this.messages.get(u.messageId);
    if (!m) return;
    this.messages.set(
      u.messageId,
      u.deleted ? { ...m, text: '', deleted: true } : { ...m, text: u.text ?? m.text, editedAt: u.ts },
    );
    this.render(false);
  }

  receipt(userId: string, upTo: string): void {
    if (userId === this.me) return;
    const had = this.receipts.get(userId);
    if (had === undefined || BigInt(upTo) > BigInt(had)) this.receipts.set(userId, upTo);
    this.render(false);
  }

  showTyping(userId: string, untilMs: number): void {
    if (userId === this.me) return;
    this.typing.set(userId, untilMs);
    this.renderTyping();
  }

  /** The user sees the newest message: it is read (on every device, and for the others' "Seen"). */
  markRead(): void {
    if (document.visibilityState !== 'visible' || !this.atBottom()) return;
    const newest = [...this.messages.values()].sort(byId).at(-1);
    if (!newest) return;
    if (BigInt(newest.messageId) > BigInt(this.conversation.readUpTo)) {
      try {
        this.client.read(this.cid, newest.messageId);
      } catch {
        // The client is closed (signing out).
      }
    }
    this.onRead(this.cid, newest.messageId);
  }

  private trim(): void {
    const ids = [...this.messages.keys()].sort((a, b) => byId({ messageId: a }, { messageId: b }));
    for (const id of ids.slice(0, ids.length - MAX_MESSAGES)) this.messages.delete(id);
    this.olderThan = ids[ids.length - MAX_MESSAGES];
    this.hasOlder = true;
  }

  private send(): void {
    const text = this.input.value.trim();
    if (text === '') return;
    this.input.value = '';
    const id = crypto.randomUUID();
    const pending: Pending = { id, text, createdAt: Date.now() };
    this.pending.set(id, pending);
    const target = this.conversation.group
      ? { group: this.conversation.group.groupId }
      : { to: this.conversation.peer! };
    this.client.send({ id, text, ...target }).then(
      (sent) => {
        this.pending.delete(id);
        // The sending device may never get its own message back: it is known from here on.
        if (!this.messages.has(sent.messageId)) {
          this.messages.set(sent.messageId, {
            messageId: sent.messageId,
            conversation: sent.conversation,
            from: this.me,
            ...target,
            text,
            ts: sent.ts,
          });
        }
        this.conversation.activityId = sent.messageId;
        this.render(true);
      },
      (err) => {
        pending.failed = messageOf(err);
        this.render(false);
      },
    );
    this.render(true);
  }

  private startEdit(messageId: string): void {
    this.editing = messageId;
    this.render(false);
    this.log.querySelector<HTMLInputElement>('input.edit')?.focus();
  }

  private saveEdit(messageId: string, text: string): void {
    this.editing = undefined;
    const m = this.messages.get(messageId);
    if (m && text.trim() !== '' && text !== m.text) {
      this.messages.set(messageId, { ...m, text, editedAt: Date.now() });
      this.client.edit(messageId, text).catch((err) => {
        this.notice.textContent = `Could not edit: ${messageOf(err)}`;
      });
    }
    this.render(false);
    this.input.focus();
  }

  private remove(messageId: string): void {
    const m = this.messages.get(messageId);
    if (m) this.messages.set(messageId, { ...m, text: '', deleted: true });
    this.client.delete(messageId).catch((err) => {
      this.notice.textContent = `Could not delete: ${messageOf(err)}`;
    });
    this.render(false);
    this.input.focus();
  }

  private render(follow: boolean): void {
    const stick = follow || this.atBottom();
    const sorted = [...this.messages.values()].sort(byId);
    const seenAt = this.seenMessage(sorted);
    const rows = sorted.map((m) => this.row(m, m.messageId === seenAt?.messageId ? seenAt.by : undefined));
    for (const p of this.pending.values()) rows.push(this.pendingRow(p));
    if (rows.length === 0) rows.push(h('li', { class: 'empty', text: 'No messages yet. Say hello!' }));
    this.log.replaceChildren(...rows);
    this.olderButton.hidden = !this.hasOlder;
    if (stick) this.log.scrollTop = this.log.scrollHeight;
  }

  /** The newest own message that others have read, and who ("Seen", or "Seen by A, B" in a group). */
  private seenMessage(sorted: Message[]): { messageId: string; by: string } | undefined {
    for (let i = sorted.length - 1; i >= 0; i--) {
      const m = sorted[i]!;
      if (m.from !== this.me || m.deleted) continue;
      const readers = [...this.receipts]
        .filter(([, upTo]) => BigInt(upTo) >= BigInt(m.messageId))
        .map(([u]) => u);
      if (readers.length === 0) continue;
      const by =
        this.conversation.kind === 'dm'
          ? 'Seen'
          : `Seen by ${readers.map((u) => this.people.name(u)).join(', ')}`;
      return { messageId: m.messageId, by };
    }
    return undefined;
  }

  private row(m: Message, seen: string | undefined): HTMLElement {
    const mine = m.from === this.me;
    const author = mine ? 'You' : this.people.name(m.from);
    const body =
      this.editing === m.messageId && !m.deleted
        ? this.editForm(m)
        : h('p', { class: 'text', text: m.deleted ? 'Message deleted' : m.text });
    const actions =
      mine && !m.deleted && this.editing !== m.messageId
        ? h(
            'span',
            { class: 'actions' },
            h('button', {
              text: 'Edit',
              attrs: { 'aria-label': `Edit message: ${m.text.slice(0, 40)}` },
              on: { click: () => this.startEdit(m.messageId) },
            }),
            h('button', {
              text: 'Delete',
              attrs: { 'aria-label': `Delete message: ${m.text.slice(0, 40)}` },
              on: { click: () => this.remove(m.messageId) },
            }),
          )
        : null;
    return h(
      'li',
      { class: `msg${mine ? ' mine' : ''}${m.deleted ? ' deleted' : ''}`, attrs: { 'data-id': m.messageId } },
      this.conversation.kind === 'group' && !mine ? h('span', { class: 'author', text: author }) : null,
      body,
      h(
        'span',
        { class: 'info' },
        h('time', { text: timeOf(m.ts), attrs: { datetime: new Date(m.ts).toISOString() } }),
        m.editedAt && !m.deleted ? h('span', { class: 'edited', text: 'edited' }) : null,
        seen ? h('span', { class: 'seen', text: seen }) : null,
        actions,
      ),
    );
  }

  private editForm(m: Message): HTMLElement {
    const input = h('input', { class: 'edit', attrs: { 'aria-label': 'Edit message', value: m.text } });
    input.value = m.text;
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        this.editing = undefined;
        this.render(false);
        this.input.focus();
      }
    });
    return h(
      'form',
      {
        class: 'edit-form',
        on: {
          submit: (e) => {
            e.preventDefault();
            this.saveEdit(m.messageId, input.value);
          },
        },
      },
      input,
      h('button', { text: 'Save', attrs: { type: 'submit' } }),
      h('button', {
        text: 'Cancel',
        attrs: { type: 'button' },
        on: {
          click: () => {
            this.editing = undefined;
            this.render(false);
          },
        },
      }),
    );
  }

  private pendingRow(p: Pending): HTMLElement {
    return h(
      'li',
      { class: `msg mine pending${p.failed ? ' failed' : ''}` },
      h('p', { class: 'text', text: p.text }),
      h(
        'span',
        { class: 'info' },
        h('span', { class: 'state', text: p.failed ? `Not sent: ${p.failed}` : 'Sending…' }),
      ),
    );
  }

  private renderTyping(): void {
    clearTimeout(this.typingTimer);
    const now = Date.now();
    for (const [u, until] of this.typing) if (until <= now) this.typing.delete(u);
    const names = [...this.typing.keys()].map((u) => this.people.name(u));
    this.typingLine.textContent =
      names.length === 0 ? '' : `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} typing…`;
    if (this.typing.size > 0) {
      const next = Math.min(...this.typing.values());
      this.typingTimer = setTimeout(() => this.renderTyping(), Math.max(50, next - now));
    }
  }
}
