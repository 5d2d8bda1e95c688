/**
 * The web chat app: sign-up and login, then the conversation list, finding people, groups and one
 * open chat, all through the SDK (client/) against the node that served the page. The session stays
 * in localStorage, so a reload comes back signed in; the SDK reconnects by itself, and a banner shows
 * while it does.
 */
import { ChatApi, ChatClient, type Conversation, type Profile } from '../../client/index.ts';
import { ChatView } from './chat-view.ts';
import { ConversationList } from './conversation-list.ts';
import { byId, h, messageOf } from './dom.ts';
import { Finder, NewGroupDialog } from './finder.ts';
import { GroupPanel } from './group-panel.ts';
import { People } from './people.ts';
import { forgetSession, type SavedSession, savedSession, saveSession, signIn } from './session.ts';

function showLogin(notice = ''): void {
  byId('app').hidden = true;
  const login = byId('login');
  login.hidden = false;
  const form = byId<HTMLFormElement>('login-form');
  const error = byId('login-error');
  error.textContent = notice;
  form.onsubmit = async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const username = String(data.get('username') ?? '').trim();
    const password = String(data.get('password') ?? '');
    const create = (e.submitter as HTMLButtonElement | null)?.value === 'create';
    error.textContent = '';
    form.setAttribute('aria-busy', 'true');
    try {
      const session = await signIn(
        username,
        password,
        create ? { displayName: String(data.get('displayName') ?? '').trim() } : undefined,
      );
      form.reset();
      login.hidden = true;
      await startApp(session);
    } catch (err) {
      error.textContent = describe(err);
    } finally {
      form.removeAttribute('aria-busy');
    }
  };
  byId<HTMLInputElement>('username').focus();
}

/** What the person sees for a refused sign-up or login. */
function describe(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === 'unauthorized') return 'Wrong username or password.';
  if (code === 'username_taken') return 'That username is taken.';
  if (code === 'network') return 'The chat server cannot be reached.';
  return messageOf(err);
}

async function startApp(session: SavedSession): Promise<void> {
  const origin = location.origin;
  const api = new ChatApi(origin, { token: session.token });
  // The node that served the page is the one to talk to (behind a load balancer: the service).
  const client = new ChatClient({ baseUrl: origin, token: session.token, discover: false });
  const me = session.userId;
  const people = new People(api);
  const banner = byId('banner');
  const pane = byId('pane');
  const list = new ConversationList({ api, people, me, root: byId('conversations') });
  const finder = new Finder({ api, people, me });
  const dialog = new NewGroupDialog({ api, people });
  let view: ChatView | undefined;
  let panel: GroupPanel | undefined;
  let header: { title: HTMLElement; status: HTMLElement } | undefined;
  let welcomed = false;

  byId('finder-slot').replaceChildren(finder.root);
  document.body.append(dialog.root);
  byId('app').hidden = false;
  const visible = () => document.visibilityState === 'visible';

  let scheduled = false;
  const renderSoon = () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      list.render();
      renderHeader();
      panel?.render();
    });
  };
  people.onChange = renderSoon;

  const signOut = (notice?: string) => {
    client.close();
    forgetSession();
    view?.close();
    dialog.root.remove();
    showLogin(notice);
  };
  byId('me').textContent = session.username;
  byId<HTMLButtonElement>('logout').onclick = async () => {
    await api.logout().catch(() => {});
    signOut();
  };
  byId<HTMLButtonElement>('new-group').onclick = () => dialog.open();
  dialog.onCreated = async (groupId) => {
    await list.load();
    const c = list.get(`g:${groupId}`);
    if (c) open(c);
  };
  finder.onPick = (p: Profile) => open(list.dmWith(p.userId));
  list.onOpen = (c) => open(c);

  function renderHeader(): void {
    if (!view || !header) return;
    const c = view.conversation;
    header.title.textContent = list.title(c);
    header.status.textContent = c.peer ? people.status(c.peer) : 'group';
  }

  function open(c: Conversation): void {
    view?.close();
    panel = undefined;
    list.openId = c.conversation;
    const title = h('h2', { text: list.title(c) });
    const status = h('p', { class: 'status' });
    header = { title, status };
    const details =
      c.kind === 'group'
        ? h('button', { text: 'Group details', on: { click: () => toggleDetails(c) } })
        : null;
    const back = h('button', {
      class: 'back',
      text: 'Back',
      attrs: { 'aria-label': 'Back to conversations' },
      on: { click: () => closeChat() },
    });
    const top = h('header', { class: 'chat-head' }, back, h('div', {}, title, status), details);
    const v = new ChatView({ conversation: c, title: list.title(c), api, client, people, me, header: top });
    v.onRead = (cid, upTo) => list.read(cid, upTo);
    view = v;
    pane.replaceChildren(v.root);
    document.body.classList.add('chat-open');
    if (c.peer) watch([c.peer]);
    renderHeader();
    list.render();
    v.start().catch((err) => {
      pane.append(h('p', { class: 'notice', attrs: { role: 'alert' }, text: messageOf(err) }));
    });
  }

  function closeChat(): void {
    view?.close();
    view = undefined;
    panel = undefined;
    list.openId = undefined;
    pane.replaceChildren(
      h('p', { class: 'placeholder', text: 'Pick a conversation, or find someone to chat with.' }),
    );
    document.body.classList.remove('chat-open');
    list.render();
    byId('conversations').querySelector('button')?.focus();
  }

  function toggleDetails(c: Conversation): void {
    if (!view || !c.group) return;
    if (panel) {
      panel.root.remove();
      panel = undefined;
      view.focus();
      return;
    }
    const p = new GroupPanel({ groupId: c.group.groupId, api, client, people, me });
    p.onClose = () => toggleDetails(c);
    p.onLeft = async () => {
      list.remove(c.conversation);
      closeChat();
    };
    panel = p;
    view.root.append(p.root);
    void p.load().then(() => p.root.querySelector('input')?.focus());
  }

  function watch(users: string[]): void {
    try {
      client.subscribePresence(users.filter((u) => u !== me));
    } catch {
      // Watching the most users a client may: the others show no presence.
    }
  }

  async function reload(): Promise<void> {
    await list.load();
    watch(list.peers());
    await view?.refresh();
  }

  client.on('message', (m) => {
    list.message(m, visible());
    if (view?.cid === m.conversation) view.message(m);
  });
  client.on('update', (u) => {
    list.update(u);
    if (view?.cid === u.conversation) view.update(u);
  });
  client.on('receipt', (r) => {
    if (view?.cid === r.conversation) view.receipt(r.userId, r.upTo);
  });
  client.on('typing', (t) => {
    if (view?.cid === t.conversation) view.showTyping(t.userId, t.untilMs);
  });
  client.on('read', (r) => list.read(r.conversation, r.upTo));
  client.on('presence', (p) => people.setPresence(p));
  client.on('group', (g) => {
    const cid = `g:${g.groupId}`;
    if (g.event === 'member_removed' && g.userId === me) {
      list.remove(cid);
      if (view?.cid === cid) closeChat();
      return;
    }
    // A load in flight may have been answered before this change: the next one has it.
    if (g.event === 'renamed' && g.name !== undefined) list.renamed(g.groupId, g.name);
    void list.load().then(renderHeader);
    if (view?.cid === cid) void panel?.load();
  });
  client.on('token', ({ token }) => {
    api.token = token;
    saveSession({ ...session, token });
  });
  client.on('disconnected', ({ willReconnect }) => {
    banner.hidden = !willReconnect;
  });
  client.on('welcome', () => {
    banner.hidden = true;
    // After a reconnect, what changed meanwhile: unread counts, new groups, the open chat's page.
    if (welcomed) void reload().catch(() => {});
    welcomed = true;
  });
  client.on('error', (err) => {
    if (client.state === 'closed' && err.code === 'unauthorized')
      signOut('Your session ended. Please log in again.');
  });
  document.addEventListener('visibilitychange', () => view?.markRead());

  closeChat();
  try {
    await list.load();
    watch(list.peers());
  } catch (err) {
    if ((err as { status?: number }).status === 401)
      return signOut('Your session ended. Please log in again.');
    byId('conversations').replaceChildren(h('li', { class: 'notice', text: messageOf(err) }));
  }
  client.connect().catch(() => {
    // Refused tokens sign out (the error event); anything else is retried by the client.
  });
}

const saved = savedSession();
if (saved) void startApp(saved);
else showLogin();
