/**
 * The web app (web/) in real headless Chromium against a real node that serves it at `/`: two users
 * in two browser contexts sign up, find each other, chat, see typing, "Seen" and an unread badge
 * that clears, edit and delete a message, scroll back through history, create a group and add a
 * member (who sees it appear), and reload without losing anything; the node goes away and comes back
 * while a send waits behind the reconnect banner. Screenshots go to a temporary folder, or to
 * docs/screenshots with UPDATE_SCREENSHOTS=1 (the README shows those).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWebApp } from '../../scripts/build-web.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { http } from '../helpers/users.ts';
import { reliableBrowser } from './browser.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const SHOTS = process.env.UPDATE_SCREENSHOTS
  ? join(ROOT, 'docs', 'screenshots')
  : mkdtempSync(join(tmpdir(), 'web-shots-'));
const STEP_MS = 20_000;
/** expect.poll with the steps' time limit. */
const poll = <T>(fn: () => Promise<T> | T) => expect.poll(fn, { timeout: STEP_MS });

interface Person {
  name: string;
  username: string;
  password: string;
  context: BrowserContext;
  page: Page;
  errors: string[];
}

describe('the web app in Chromium', { timeout: 90_000 }, () => {
  let browser: Browser;
  let t: TestNode;
  let alice: Person;
  let bob: Person;
  const suffix = Date.now().toString(36);

  const person = async (name: string, viewport = { width: 1000, height: 640 }): Promise<Person> => {
    const context = await browser.newContext({ viewport, reducedMotion: 'reduce' });
    context.setDefaultTimeout(STEP_MS);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      // The browser's own words for a refused connection (the node is stopped on purpose below).
      const network = /Failed to load resource|WebSocket connection to|ERR_CONNECTION_REFUSED/.test(m.text());
      if (m.type() === 'error' && !network) errors.push(m.text());
    });
    page.on('websocket', (ws) => {
      // The token never travels in a URL: the SDK uses a one-use ticket.
      if (/[?&]token=/.test(ws.url()) || !/[?&]ticket=/.test(ws.url())) errors.push(`socket URL ${ws.url()}`);
    });
    return {
      name,
      username: `${name.toLowerCase()}-${suffix}`,
      password: `pw-${name}-${suffix}`,
      context,
      page,
      errors,
    };
  };

  const signUp = async (p: Person) => {
    await p.page.goto(t.baseUrl);
    await p.page.getByLabel('Username').fill(p.username);
    await p.page.getByLabel('Password').fill(p.password);
    await p.page.getByLabel('Display name').fill(p.name);
    await p.page.getByRole('button', { name: 'Create account' }).click();
    await poll(() => p.page.locator('#me').textContent()).toBe(p.username);
  };
  const list = (p: Person) => p.page.getByRole('list', { name: 'Conversation list' });
  const log = (p: Person) => p.page.getByRole('log');
  const composer = (p: Person) => p.page.getByLabel('Message', { exact: true });
  const shot = async (p: Person, file: string) => {
    await p.page.screenshot({ path: join(SHOTS, file) });
    expect(statSync(join(SHOTS, file)).size).toBeGreaterThan(1000);
  };
  const say = async (p: Person, text: string) => {
    await composer(p).fill(text);
    await composer(p).press('Enter');
    await log(p).getByText(text, { exact: true }).waitFor();
  };

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    const [b] = await Promise.all([reliableBrowser(), buildWebApp()]);
    browser = b;
    t = await startTestNode({ heartbeatMs: 1000 });
    alice = await person('Alice');
    bob = await person('Bob');
  }, 900_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    if (!process.env.UPDATE_SCREENSHOTS) rmSync(SHOTS, { recursive: true, force: true });
  });

  it('is served at / with its files', async () => {
    const page = await fetch(`${t.baseUrl}/`);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toContain('<script type="module" src="/app.js">');
    const js = await fetch(`${t.baseUrl}/app.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await js.text()).not.toMatch(/from\s*["'](ws|node:)/);
    expect((await fetch(`${t.baseUrl}/app.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(readFileSync(join(ROOT, 'web', 'dist', 'index.html'), 'utf8')).toContain('Create account');
  });

  it('signs two people up, who find each other and chat', async () => {
    await alice.page.goto(t.baseUrl);
    await alice.page.getByLabel('Username').waitFor();
    await shot(alice, 'login.png');
    await signUp(alice);
    await signUp(bob);

    await alice.page.getByLabel('Find people').fill(`bob-${suffix}`);
    await alice.page.getByRole('button', { name: 'Chat with Bob' }).click();
    await poll(() => alice.page.getByRole('heading', { name: 'Bob' }).count()).toBe(1);
    await say(alice, 'Hello Bob');
    await poll(() => log(alice).getByText('Sending…').count()).toBe(0);

    // Bob is not in that chat: an unread badge, which clears when he opens it.
    const fromAlice = list(bob).getByRole('button', { name: /^Alice/ });
    await poll(() => fromAlice.getAttribute('aria-label')).toMatch(/1 unread/);
    await poll(() => list(bob).locator('.badge').textContent()).toBe('1');
    await fromAlice.click();
    await log(bob).getByText('Hello Bob', { exact: true }).waitFor();
    await poll(() => fromAlice.getAttribute('aria-label')).not.toMatch(/unread/);
    await poll(() => list(bob).locator('.badge').count()).toBe(0);

    // Alice sees that Bob read it, and that Bob is online.
    await log(alice).getByText('Seen', { exact: true }).waitFor();
    await poll(() => alice.page.locator('.chat-head .status').textContent()).toBe('online');
  });

  it('shows typing, and the reply ends it', async () => {
    await composer(bob).pressSequentially('Hi Ali', { delay: 20 });
    await alice.page.getByText('Bob is typing…').waitFor();
    await composer(bob).pressSequentially('ce');
    await composer(bob).press('Enter');
    await log(alice).getByText('Hi Alice', { exact: true }).waitFor();
    await poll(() => alice.page.locator('.typing').textContent()).toBe('');
    await shot(alice, 'chat.png');
  });

  it('edits and deletes a message on both sides', async () => {
    await alice.page.getByRole('button', { name: 'Edit message: Hello Bob' }).click();
    const edit = alice.page.getByLabel('Edit message', { exact: true });
    await edit.fill('Hello Bob, edited');
    await edit.press('Enter');
    await log(bob).getByText('Hello Bob, edited', { exact: true }).waitFor();
    await poll(() => log(bob).getByText('edited', { exact: true }).count()).toBe(1);

    await alice.page.getByRole('button', { name: 'Delete message: Hello Bob, edited' }).click();
    await log(bob).getByText('Message deleted').waitFor();
    await log(alice).getByText('Message deleted').waitFor();
    await poll(() => log(bob).getByText('Hello Bob, edited').count()).toBe(0);
  });

  it('loads older history as the log is scrolled back', async () => {
    // 45 more messages from Bob, sent through the HTTP API (as a bot would).
    const token = (await bob.page.evaluate(
      () => JSON.parse(localStorage.getItem('chat.session')!).token,
    )) as string;
    const aliceId = (await alice.page.evaluate(
      () => JSON.parse(localStorage.getItem('chat.session')!).userId,
    )) as string;
    for (let i = 1; i <= 45; i++) {
      const res = await http(t.baseUrl, 'POST', '/v1/messages', {
        token,
        body: { to: aliceId, text: `history ${i}` },
      });
      expect(res.status).toBe(201);
    }
    await log(alice).getByText('history 45', { exact: true }).waitFor();
    await alice.page.reload();
    await list(alice).getByRole('button', { name: /^Bob/ }).click();
    await log(alice).getByText('history 45', { exact: true }).waitFor();
    expect(await log(alice).getByText('history 5', { exact: true }).count()).toBe(0);
    for (let i = 0; i < 5 && (await log(alice).getByText('history 1', { exact: true }).count()) === 0; i++) {
      await log(alice).evaluate((el) => {
        el.scrollTop = 0;
      });
      await alice.page.waitForTimeout(300);
    }
    await log(alice).getByText('history 1', { exact: true }).waitFor();
    await log(alice).getByText('Hi Alice', { exact: true }).waitFor();
  });

  it('creates a group, renames it, and adds a member who sees it appear', async () => {
    await alice.page.getByRole('button', { name: 'New group' }).click();
    const dialog = alice.page.getByRole('dialog', { name: 'New group' });
    await dialog.getByLabel('Group name').fill('Weekend');
    await dialog.getByRole('button', { name: 'Create group' }).click();
    await poll(() => alice.page.getByRole('heading', { name: 'Weekend' }).count()).toBe(1);
    expect(
      await list(bob)
        .getByRole('button', { name: /^Weekend/ })
        .count(),
    ).toBe(0);

    await alice.page.getByRole('button', { name: 'Group details' }).click();
    const details = alice.page.getByRole('complementary', { name: 'Group details' });
    await details.getByLabel('Username to add').fill(`bob-${suffix}`);
    await details.getByRole('button', { name: 'Add member' }).click();
    await details.getByText('2 members').waitFor();
    // Bob's list gets the group by itself (the group event), and Alice's message in it.
    await list(bob)
      .getByRole('button', { name: /^Weekend/ })
      .waitFor();
    await details.getByLabel('Group name').fill('Weekend trip');
    // The panel re-renders on any presence change: Bob's reload takes him offline and back while
    // Alice has typed the new name, which must still be there when she renames.
    const bobInPanel = details.getByRole('listitem').filter({ hasText: 'Bob' }).locator('.presence');
    await poll(() => bobInPanel.textContent()).toBe('online');
    const offline = alice.page.waitForFunction(
      "document.querySelector('.panel .members')?.textContent?.includes('online') === false",
      undefined,
      { timeout: STEP_MS, polling: 'raf' },
    );
    await bob.page.reload();
    await offline;
    await poll(() => bobInPanel.textContent()).toBe('online');
    expect(await details.getByLabel('Group name').inputValue()).toBe('Weekend trip');
    await details.getByRole('button', { name: 'Rename' }).click();
    await list(bob)
      .getByRole('button', { name: /^Weekend trip/ })
      .waitFor();
    await poll(() => alice.page.getByRole('heading', { name: 'Weekend trip' }).count()).toBe(1);
    await details.getByRole('button', { name: 'Close group details' }).click();
    await say(alice, 'Who is in?');
    await list(bob)
      .getByRole('button', { name: /^Weekend trip/ })
      .click();
    await log(bob).getByText('Who is in?', { exact: true }).waitFor();
    await say(bob, 'Me!');
    await log(alice).getByText('Me!', { exact: true }).waitFor();
    await log(alice).getByText('Seen by Bob').waitFor();
    await alice.page.getByRole('button', { name: 'Group details' }).click();
    await shot(alice, 'group.png');
    await alice.page.getByRole('button', { name: 'Close group details' }).click();
  });

  it('loses nothing on a reload', async () => {
    for (const p of [alice, bob]) {
      await p.page.reload();
      await poll(() => p.page.locator('#me').textContent()).toBe(p.username);
      await list(p)
        .getByRole('button', { name: /^Weekend trip/ })
        .waitFor();
    }
    await list(bob)
      .getByRole('button', { name: /^Alice/ })
      .click();
    await log(bob).getByText('history 45', { exact: true }).waitFor();
    await list(alice)
      .getByRole('button', { name: /^Weekend trip/ })
      .click();
    await log(alice).getByText('Who is in?', { exact: true }).waitFor();
    await log(alice).getByText('Me!', { exact: true }).waitFor();
    await log(alice).getByText('Seen by Bob').waitFor();
  });

  it('shows a banner while the node is away, and sends what was written meanwhile', async () => {
    await list(bob)
      .getByRole('button', { name: /^Weekend trip/ })
      .click();
    const port = t.node.port;
    await t.stop();
    const banner = alice.page.getByRole('status').filter({ hasText: 'Reconnecting' });
    await banner.waitFor();
    await composer(alice).fill('sent while away');
    await composer(alice).press('Enter');
    await log(alice).getByText('Sending…').waitFor();
    await shot(alice, 'reconnecting.png');
    t = await t.restart({ port });
    await banner.waitFor({ state: 'hidden', timeout: 30_000 });
    await expect.poll(() => log(alice).getByText('Sending…').count(), { timeout: 30_000 }).toBe(0);
    await log(bob).getByText('sent while away', { exact: true }).waitFor({ timeout: 30_000 });
  }, 120_000);

  it('fits a phone-sized screen, one pane at a time', async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 780 },
      isMobile: true,
      hasTouch: true,
    });
    try {
      phone.setDefaultTimeout(STEP_MS);
      const page = await phone.newPage();
      await page.goto(t.baseUrl);
      await page.getByLabel('Username').fill(bob.username);
      await page.getByLabel('Password').fill(bob.password);
      await page.getByRole('button', { name: 'Log in' }).click();
      const conversations = page.getByRole('list', { name: 'Conversation list' });
      await conversations.getByRole('button', { name: /^Alice/ }).click();
      await page.getByRole('log').getByText('history 45', { exact: true }).waitFor();
      expect(await conversations.isVisible()).toBe(false);
      const width = await page.evaluate<number>('document.documentElement.scrollWidth');
      expect(width).toBeLessThanOrEqual(390);
      await page.screenshot({ path: join(SHOTS, 'phone.png') });
      await page.getByRole('button', { name: 'Back to conversations' }).click();
      expect(await conversations.isVisible()).toBe(true);
    } finally {
      await phone.close();
    }
  });

  it('works from the keyboard alone', async () => {
    const page = alice.page;
    await page.getByLabel('Find people').focus();
    await page.keyboard.type(`bob-${suffix}`);
    await page.getByRole('button', { name: 'Chat with Bob' }).waitFor();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await poll(() => page.evaluate<string | null>("document.activeElement?.getAttribute('aria-label')")).toBe(
      'Message',
    );
    await page.keyboard.type('typed with keys');
    await page.keyboard.press('Enter');
    await log(alice).getByText('typed with keys', { exact: true }).waitFor();
    // Bob has the group open: the 1:1 chat counts it unread.
    await poll(() =>
      list(bob)
        .getByRole('button', { name: /^Alice/ })
        .getAttribute('aria-label'),
    ).toMatch(/1 unread/);
  });

  it('removes a member, whose list loses the group', async () => {
    await list(alice)
      .getByRole('button', { name: /^Weekend trip/ })
      .click();
    await alice.page.getByRole('button', { name: 'Group details' }).click();
    const details = alice.page.getByRole('complementary', { name: 'Group details' });
    await details.getByRole('button', { name: 'Remove Bob' }).click();
    await details.getByText('1 member', { exact: true }).waitFor();
    await poll(() =>
      list(bob)
        .getByRole('button', { name: /^Weekend trip/ })
        .count(),
    ).toBe(0);
    await list(bob)
      .getByRole('button', { name: /^Alice/ })
      .waitFor();
  });

  it('logged no page error, and never put a token in a socket URL', () => {
    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  });
});
