/**
 * A group's details beside its chat: the members with their presence, adding one by username,
 * removing one (or leaving), and renaming (the creator only; the node refuses others).
 */
import type { ChatApi, ChatClient, GroupInfo } from '../../client/index.ts';
import { h, messageOf, onSubmit } from './dom.ts';
import type { People } from './people.ts';

export class GroupPanel {
  readonly root: HTMLElement;
  private readonly groupId: string;
  private readonly api: ChatApi;
  private readonly client: ChatClient;
  private readonly people: People;
  private readonly me: string;
  private info: (GroupInfo & { createdBy?: string }) | undefined;
  private readonly body: HTMLElement;
  private readonly status: HTMLElement;
  /** The user left the group. */
  onLeft: () => void = () => {};
  onClose: () => void = () => {};

  constructor(o: { groupId: string; api: ChatApi; client: ChatClient; people: People; me: string }) {
    this.groupId = o.groupId;
    this.api = o.api;
    this.client = o.client;
    this.people = o.people;
    this.me = o.me;
    this.body = h('div', { class: 'panel-body' });
    this.status = h('p', { class: 'notice', attrs: { role: 'status' } });
    this.root = h(
      'aside',
      {
        class: 'panel',
        attrs: { 'aria-label': 'Group details' },
        on: { keydown: (e) => e.key === 'Escape' && this.onClose() },
      },
      h(
        'header',
        {},
        h('h2', { text: 'Group details' }),
        h('button', {
          text: 'Close',
          attrs: { 'aria-label': 'Close group details' },
          on: { click: () => this.onClose() },
        }),
      ),
      this.status,
      this.body,
    );
  }

  /** Reads the group again (after any change to it) and shows it. */
  async load(): Promise<void> {
    try {
      this.info = await this.api.getGroup(this.groupId);
    } catch (err) {
      this.status.textContent = messageOf(err);
      return;
    }
    await this.people.load(this.info.members);
    try {
      this.client.subscribePresence(this.info.members.filter((u) => u !== this.me));
    } catch {
      // Watching the most users a client may: the dots stay as they are.
    }
    this.render();
  }

  render(): void {
    const g = this.info;
    if (!g) return;
    const creator = g.createdBy === this.me;
    const name = h('input', { attrs: { 'aria-label': 'Group name', maxlength: 100, required: true } });
    name.value = g.name;
    const rename = creator
      ? h(
          'form',
          {
            class: 'row',
            on: {
              submit: onSubmit(() =>
                this.act(() => this.api.renameGroup(this.groupId, name.value.trim()), 'Renamed'),
              ),
            },
          },
          name,
          h('button', { text: 'Rename', attrs: { type: 'submit' } }),
        )
      : h('p', { class: 'group-name', text: g.name });
    const username = h('input', {
      attrs: {
        'aria-label': 'Username to add',
        placeholder: 'username',
        autocomplete: 'off',
        required: true,
      },
    });
    const add = h(
      'form',
      {
        class: 'row',
        on: { submit: onSubmit(() => this.addByName(username.value.trim())) },
      },
      username,
      h('button', { text: 'Add member', attrs: { type: 'submit' } }),
    );
    const members = h(
      'ul',
      { class: 'members', attrs: { 'aria-label': 'Members' } },
      ...g.members.map((u) =>
        h(
          'li',
          {},
          h('span', {
            class: `dot${u === this.me || this.people.online(u) ? ' online' : ''}`,
            attrs: { 'aria-hidden': 'true' },
          }),
          h('span', {
            class: 'member-name',
            text: u === this.me ? `${this.people.name(u)} (you)` : this.people.name(u),
          }),
          h('span', { class: 'presence', text: u === this.me ? '' : this.people.status(u) }),
          u === this.me
            ? h('button', {
                text: 'Leave',
                attrs: { 'aria-label': 'Leave the group' },
                on: { click: () => void this.leave() },
              })
            : h('button', {
                text: 'Remove',
                attrs: { 'aria-label': `Remove ${this.people.name(u)}` },
                on: { click: () => void this.act(() => this.api.removeMember(this.groupId, u), 'Removed') },
              }),
        ),
      ),
    );
    this.body.replaceChildren(
      rename,
      h('h3', { text: g.members.length === 1 ? '1 member' : `${g.members.length} members` }),
      members,
      add,
    );
  }

  private async addByName(username: string): Promise<void> {
    if (username === '') return;
    const user = await this.api.findUser(username).catch(() => undefined);
    if (!user) {
      this.status.textContent = `No user named ${username}`;
      return;
    }
    this.people.learn([user]);
    await this.act(() => this.api.addMember(this.groupId, user.userId), `Added ${user.displayName}`);
  }

  private async leave(): Promise<void> {
    try {
      await this.api.removeMember(this.groupId, this.me);
      this.onLeft();
    } catch (err) {
      this.status.textContent = messageOf(err);
    }
  }

  private async act(fn: () => Promise<unknown>, done: string): Promise<void> {
    try {
      await fn();
      this.status.textContent = done;
      await this.load();
    } catch (err) {
      this.status.textContent = messageOf(err);
    }
  }
}
