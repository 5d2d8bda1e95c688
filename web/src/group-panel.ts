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
  /**
   * The forms stay in the document across renders (a presence change or a profile re-renders the
   * panel at any moment): a field being typed in keeps its text, its caret and the focus, and the
   * name follows the group's only while the user has not changed it.
   */
  private readonly nameField: HTMLInputElement;
  private readonly renameForm: HTMLFormElement;
  private readonly nameText: HTMLElement;
  private readonly count: HTMLElement;
  private readonly members: HTMLElement;
  private readonly usernameField: HTMLInputElement;
  private readonly addForm: HTMLFormElement;
  /** The group name last put in nameField. */
  private shownName: string | undefined;
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
    const name = h('input', { attrs: { 'aria-label': 'Group name', maxlength: 100, required: true } });
    this.nameField = name;
    this.renameForm = h(
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
    );
    this.nameText = h('p', { class: 'group-name' });
    this.count = h('h3');
    this.members = h('ul', { class: 'members', attrs: { 'aria-label': 'Members' } });
    const username = h('input', {
      attrs: {
        'aria-label': 'Username to add',
        placeholder: 'username',
        autocomplete: 'off',
        required: true,
      },
    });
    this.usernameField = username;
    this.addForm = h(
      'form',
      { class: 'row', on: { submit: onSubmit(() => this.addByName(username.value.trim())) } },
      username,
      h('button', { text: 'Add member', attrs: { type: 'submit' } }),
    );
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
    const name = this.nameField;
    if (this.shownName === undefined || name.value === this.shownName) name.value = g.name;
    this.shownName = g.name;
    this.nameText.textContent = g.name;
    // The creator renames; the others see the name.
    const top = g.createdBy === this.me ? this.renameForm : this.nameText;
    if (this.body.firstChild !== top) this.body.replaceChildren(top, this.count, this.members, this.addForm);
    this.count.textContent = g.members.length === 1 ? '1 member' : `${g.members.length} members`;
    this.members.replaceChildren(
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
  }

  private async addByName(username: string): Promise<void> {
    if (username === '') return;
    const user = await this.api.findUser(username).catch(() => undefined);
    if (!user) {
      this.status.textContent = `No user named ${username}`;
      return;
    }
    this.people.learn([user]);
    if (await this.act(() => this.api.addMember(this.groupId, user.userId), `Added ${user.displayName}`)) {
      this.usernameField.value = '';
    }
  }

  private async leave(): Promise<void> {
    try {
      await this.api.removeMember(this.groupId, this.me);
      this.onLeft();
    } catch (err) {
      this.status.textContent = messageOf(err);
    }
  }

  /** Runs one change; true once it is done (and the group read again). */
  private async act(fn: () => Promise<unknown>, done: string): Promise<boolean> {
    try {
      await fn();
    } catch (err) {
      this.status.textContent = messageOf(err);
      return false;
    }
    this.status.textContent = done;
    await this.load();
    return true;
  }
}
