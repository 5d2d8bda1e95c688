/**
 * Finding people (usernames by prefix) to start a 1:1 chat with, and the form that creates a group
 * of some of them.
 */
import type { ChatApi, Profile } from '../../client/index.ts';
import { h, messageOf, onSubmit } from './dom.ts';
import type { People } from './people.ts';

const RESULTS = 10;

export class Finder {
  readonly root: HTMLElement;
  private readonly api: ChatApi;
  private readonly people: People;
  private readonly me: string;
  private readonly input: HTMLInputElement;
  private readonly results: HTMLElement;
  private query = 0;
  /** Chat with this user. */
  onPick: (p: Profile) => void = () => {};

  constructor(o: { api: ChatApi; people: People; me: string }) {
    this.api = o.api;
    this.people = o.people;
    this.me = o.me;
    this.input = h('input', {
      attrs: {
        type: 'search',
        placeholder: 'Find people by username',
        'aria-label': 'Find people',
        autocomplete: 'off',
      },
      on: {
        input: () => void this.search(),
        keydown: (e) => {
          if (e.key === 'Escape') this.clear();
        },
      },
    });
    this.results = h('ul', { class: 'results', attrs: { 'aria-label': 'People found' } });
    this.root = h('div', { class: 'finder', attrs: { role: 'search' } }, this.input, this.results);
  }

  clear(): void {
    this.input.value = '';
    this.results.replaceChildren();
  }

  private async search(): Promise<void> {
    const prefix = this.input.value.trim();
    const n = ++this.query;
    if (prefix === '') {
      this.results.replaceChildren();
      return;
    }
    let found: Profile[];
    try {
      found = await this.api.searchUsers(prefix, RESULTS);
    } catch (err) {
      if (n === this.query) this.results.replaceChildren(h('li', { class: 'empty', text: messageOf(err) }));
      return;
    }
    if (n !== this.query) return;
    this.people.learn(found);
    const others = found.filter((p) => p.userId !== this.me);
    this.results.replaceChildren(
      ...(others.length === 0
        ? [h('li', { class: 'empty', text: 'Nobody by that name' })]
        : others.map((p) =>
            h(
              'li',
              {},
              h('button', {
                class: 'person',
                text: p.displayName === p.username ? p.username : `${p.displayName} (${p.username})`,
                attrs: { 'aria-label': `Chat with ${p.displayName}` },
                on: {
                  click: () => {
                    this.clear();
                    this.onPick(p);
                  },
                },
              }),
            ),
          )),
    );
  }
}

/** The dialog that creates a group: a name and members found by username. */
export class NewGroupDialog {
  readonly root: HTMLDialogElement;
  private readonly api: ChatApi;
  private readonly people: People;
  private readonly members = new Map<string, Profile>();
  private readonly chosen: HTMLElement;
  private readonly status: HTMLElement;
  private readonly name: HTMLInputElement;
  private readonly username: HTMLInputElement;
  onCreated: (groupId: string) => void = () => {};

  constructor(o: { api: ChatApi; people: People }) {
    this.api = o.api;
    this.people = o.people;
    this.name = h('input', { attrs: { 'aria-label': 'Group name', required: true, maxlength: 100 } });
    this.username = h('input', { attrs: { 'aria-label': 'Add a member by username', autocomplete: 'off' } });
    this.chosen = h('ul', { class: 'members', attrs: { 'aria-label': 'Chosen members' } });
    this.status = h('p', { class: 'notice', attrs: { role: 'status' } });
    const addMember = h('button', {
      text: 'Add',
      attrs: { type: 'button' },
      on: { click: () => void this.add() },
    });
    this.username.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        void this.add();
      }
    });
    this.root = h(
      'dialog',
      { class: 'dialog', attrs: { 'aria-label': 'New group' } },
      h(
        'form',
        { on: { submit: onSubmit(() => this.create()) } },
        h('h2', { text: 'New group' }),
        h('label', {}, 'Name ', this.name),
        h('div', { class: 'row' }, h('label', {}, 'Member ', this.username), addMember),
        this.chosen,
        this.status,
        h(
          'div',
          { class: 'row end' },
          h('button', { text: 'Cancel', attrs: { type: 'button' }, on: { click: () => this.root.close() } }),
          h('button', { class: 'primary', text: 'Create group', attrs: { type: 'submit' } }),
        ),
      ),
    );
  }

  open(): void {
    this.members.clear();
    this.name.value = '';
    this.username.value = '';
    this.status.textContent = '';
    this.render();
    this.root.showModal();
    this.name.focus();
  }

  private async add(): Promise<void> {
    const username = this.username.value.trim();
    if (username === '') return;
    const user = await this.api.findUser(username).catch(() => undefined);
    if (!user) {
      this.status.textContent = `No user named ${username}`;
      return;
    }
    this.people.learn([user]);
    this.members.set(user.userId, user);
    this.username.value = '';
    this.status.textContent = '';
    this.render();
    this.username.focus();
  }

  private render(): void {
    this.chosen.replaceChildren(
      ...[...this.members.values()].map((p) =>
        h(
          'li',
          {},
          h('span', { class: 'member-name', text: p.displayName }),
          h('button', {
            text: 'Remove',
            attrs: { type: 'button', 'aria-label': `Remove ${p.displayName}` },
            on: {
              click: () => {
                this.members.delete(p.userId);
                this.render();
              },
            },
          }),
        ),
      ),
    );
  }

  private async create(): Promise<void> {
    const name = this.name.value.trim();
    if (name === '') return;
    try {
      const { groupId } = await this.api.createGroup(name, [...this.members.keys()]);
      this.root.close();
      this.onCreated(groupId);
    } catch (err) {
      this.status.textContent = messageOf(err);
    }
  }
}
