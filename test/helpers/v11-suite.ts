/**
 * Every row of PROTOCOL.md v1.1 this project implements (people, contacts, conversations and unread
 * counts, receipts, groups and their events, typing, edits and deletes with sync's updates), over
 * real HTTP and WebSocket connections. Run on the embedded node (every "node i" is the one node)
 * and on a three-node cluster (node i is the i-th process), so what one user does on one node
 * reaches the others on another.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Frame, TestSocket } from './socket.ts';
import { createUser, createUsers, http, login, type TestUser } from './users.ts';
import { createGroup, dmOf, roundTrip, waitUntil } from './ws.ts';

export interface Deployment {
  /** The HTTP base URL of node i (i = 0, 1, 2). */
  url(i: number): string;
  close(): Promise<void>;
}

const wsOf = (base: string) => `${base.replace(/^http/, 'ws')}/v1/ws`;

export function describeV11(name: string, start: () => Promise<Deployment>): void {
  describe(`PROTOCOL v1.1 on ${name}`, () => {
    let d: Deployment;
    const sockets: TestSocket[] = [];
    const open = async (i: number, user: { token: string }) => {
      const s = await TestSocket.open(wsOf(d.url(i)), user.token);
      sockets.push(s);
      return s;
    };
    const get = (i: number, path: string, token: string) => http(d.url(i), 'GET', path, { token });
    /** A user's second device (another session). */
    const device = (i: number, u: TestUser) => login(d.url(i), u.username, u.password);
    const send = async (i: number, from: TestUser, body: object) => {
      const res = await http(d.url(i), 'POST', '/v1/messages', { token: from.token, body });
      expect(res.status).toBe(201);
      return res.body as { messageId: string; conversation: string; ts: number };
    };

    beforeAll(async () => {
      d = await start();
    }, 180_000);
    afterAll(async () => {
      for (const s of sockets) s.close();
      await d?.close();
    });

    describe('people', () => {
      it('keeps display names and finds users by exact username and by prefix', async () => {
        const tag = `p${Math.random().toString(36).slice(2, 8)}`;
        const made = await http(d.url(0), 'POST', '/v1/users', {
          body: { username: `${tag}-bo`, password: 'pw', displayName: 'Bo Diddley' },
        });
        expect(made.status).toBe(201);
        const bo = await login(d.url(0), `${tag}-bo`, 'pw');
        for (const n of ['al', 'Cy', 'am']) {
          await http(d.url(0), 'POST', '/v1/users', { body: { username: `${tag}-${n}`, password: 'pw' } });
        }
        const me = await get(1, '/v1/users/me', bo.token);
        expect(me).toEqual({
          status: 200,
          body: {
            userId: bo.userId,
            username: `${tag}-bo`,
            displayName: 'Bo Diddley',
            createdAt: expect.any(Number),
          },
        });
        const patched = await http(d.url(2), 'PATCH', '/v1/users/me', {
          token: bo.token,
          body: { displayName: 'Bo' },
        });
        expect(patched.body.displayName).toBe('Bo');
        expect((await get(0, `/v1/users/${bo.userId}`, bo.token)).body.displayName).toBe('Bo');
        expect((await get(0, '/v1/users/u-nobody', bo.token)).body.error.code).toBe('not_found');
        expect((await get(0, '/v1/users/u-nobody', bo.token)).status).toBe(404);
        const exact = await get(1, `/v1/users?username=${tag}-al`, bo.token);
        expect(exact.body.users).toHaveLength(1);
        expect(exact.body.users[0]).toMatchObject({ username: `${tag}-al`, displayName: `${tag}-al` });
        expect((await get(1, `/v1/users?username=${tag}-zz`, bo.token)).body).toEqual({ users: [] });
        const prefix = await get(2, `/v1/users?prefix=${tag}-`, bo.token);
        expect(prefix.body.users.map((u: { username: string }) => u.username)).toEqual([
          `${tag}-Cy`,
          `${tag}-al`,
          `${tag}-am`,
          `${tag}-bo`,
        ]);
        expect((await get(2, `/v1/users?prefix=${tag}-a&limit=1`, bo.token)).body.users).toHaveLength(1);
        expect((await get(2, `/v1/users?prefix=${tag}&limit=999`, bo.token)).body.users).toHaveLength(4);
        expect((await get(2, '/v1/users?prefix=', bo.token)).status).toBe(400);
        const bad = await http(d.url(0), 'PATCH', '/v1/users/me', {
          token: bo.token,
          body: { displayName: '' },
        });
        expect(bad.status).toBe(400);
        expect((await get(0, '/v1/users/me', '')).status).toBe(401);
      });
    });

    describe('contacts', () => {
      it('lists contacts with presence and shows their presence to every device without a subscription', async () => {
        const [me, ann, ben] = (await createUsers(d.url(0), 3, 'contact')) as [TestUser, TestUser, TestUser];
        expect((await http(d.url(0), 'PUT', `/v1/contacts/${ann.userId}`, { token: me.token })).status).toBe(
          204,
        );
        expect((await http(d.url(1), 'PUT', `/v1/contacts/${ann.userId}`, { token: me.token })).status).toBe(
          204,
        );
        expect((await http(d.url(1), 'PUT', '/v1/contacts/u-nobody', { token: me.token })).status).toBe(404);
        const phone = await open(1, me);
        // At once, for each contact, without presence.subscribe.
        expect(await phone.next('presence')).toMatchObject({ userId: ann.userId, status: 'offline' });
        const annSocket = await open(2, ann);
        await phone.next('presence', (f) => f.userId === ann.userId && f.status === 'online', 10_000);
        // A contact added later reaches the connected device too, at once.
        expect((await http(d.url(2), 'PUT', `/v1/contacts/${ben.userId}`, { token: me.token })).status).toBe(
          204,
        );
        await phone.next('presence', (f) => f.userId === ben.userId, 10_000);
        const list = await get(0, '/v1/contacts', me.token);
        expect(list.body.contacts.map((c: { userId: string }) => c.userId)).toEqual(
          [ann, ben].sort((a, b) => (a.username < b.username ? -1 : 1)).map((u) => u.userId),
        );
        expect(list.body.contacts.find((c: { userId: string }) => c.userId === ann.userId)).toMatchObject({
          username: ann.username,
          displayName: ann.username,
          status: 'online',
          lastActiveAt: expect.any(Number),
        });
        // Removed: no more presence frames for it.
        expect(
          (await http(d.url(0), 'DELETE', `/v1/contacts/${ann.userId}`, { token: me.token })).status,
        ).toBe(204);
        await waitUntil('ann is no longer a contact', async () =>
          (await get(1, '/v1/contacts', me.token)).body.contacts.length === 1 ? true : undefined,
        );
        await new Promise((r) => setTimeout(r, 300));
        annSocket.close();
        await new Promise((r) => setTimeout(r, 1000));
        await roundTrip(phone);
        expect(
          phone.pending('presence').filter((f) => f.userId === ann.userId && f.status === 'offline'),
        ).toEqual([]);
      });
    });

    describe('conversations, unread counts and receipts', () => {
      it('lowers the unread count on every node at once when any device of the user reads', async () => {
        const [alice, bob] = (await createUsers(d.url(0), 2, 'unread')) as [TestUser, TestUser];
        const bobPhone = await device(2, bob);
        const aliceSocket = await open(0, alice);
        const bobOther = await open(1, bob);
        const sent: { messageId: string }[] = [];
        for (let i = 0; i < 3; i++) sent.push(await send(0, alice, { to: bob.userId, text: `hi ${i}` }));
        const cid = dmOf(alice.userId, bob.userId);
        const list = await get(1, '/v1/conversations', bob.token);
        expect(list.body.more).toBe(false);
        expect(list.body.conversations).toEqual([
          {
            conversation: cid,
            kind: 'dm',
            peer: alice.userId,
            lastMessage: expect.objectContaining({
              messageId: sent[2]!.messageId,
              text: 'hi 2',
              from: alice.userId,
            }),
            readUpTo: '0',
            unread: 3,
            activityId: sent[2]!.messageId,
          },
        ]);
        // Alice's own messages are not unread for her.
        expect((await get(2, `/v1/conversations/${cid}`, alice.token)).body.unread).toBe(0);
        // Bob's phone, on node 2, reads up to the second message.
        const phone = await open(2, bobPhone);
        phone.send({ type: 'read', id: 'r1', conversation: cid, upTo: sent[1]!.messageId });
        await bobOther
          .nextOf(['read'], (f) => f.upTo === sent[1]!.messageId, 10_000)
          .catch(async (err) => {
            throw new Error(`${err.message}; the reader saw ${JSON.stringify(phone.pending('error'))}`);
          });
        const receipt = await aliceSocket.next('receipt');
        expect(receipt).toEqual({
          type: 'receipt',
          conversation: cid,
          userId: bob.userId,
          upTo: sent[1]!.messageId,
        });
        // At once on the other nodes: the read is in the store before the `read` frames go out.
        for (const i of [0, 1]) {
          const c = (await get(i, `/v1/conversations/${cid}`, bob.token)).body;
          expect(c).toMatchObject({ unread: 1, readUpTo: sent[1]!.messageId });
        }
        const receipts = await get(0, `/v1/conversations/${cid}/receipts`, alice.token);
        expect(
          receipts.body.receipts.sort((a: { userId: string }, b: { userId: string }) =>
            a.userId < b.userId ? -1 : 1,
          ),
        ).toEqual(
          [
            { userId: alice.userId, upTo: '0' },
            { userId: bob.userId, upTo: sent[1]!.messageId },
          ].sort((a, b) => (a.userId < b.userId ? -1 : 1)),
        );
        // A read that does not move the position sends no receipt.
        phone.send({ type: 'read', conversation: cid, upTo: sent[0]!.messageId });
        await roundTrip(phone);
        await roundTrip(aliceSocket);
        expect(aliceSocket.pending('receipt')).toEqual([]);
      });

      it('refuses outsiders the entry and the receipts, and pages the list by activity', async () => {
        const [alice, bob, eve] = (await createUsers(d.url(0), 3, 'list')) as [TestUser, TestUser, TestUser];
        const cid = dmOf(alice.userId, bob.userId);
        await send(0, alice, { to: bob.userId, text: 'x' });
        for (const path of [`/v1/conversations/${cid}`, `/v1/conversations/${cid}/receipts`]) {
          const res = await get(1, path, eve.token);
          expect(res.status).toBe(403);
          expect(res.body.error.code).toBe('not_member');
        }
        const groupId = await createGroup(d.url(1), bob.token, [alice.userId], 'quiet');
        const later = await send(2, alice, { to: bob.userId, text: 'y' });
        const page1 = (await get(0, '/v1/conversations?limit=1', bob.token)).body;
        expect(page1.more).toBe(true);
        expect(page1.conversations[0]).toMatchObject({ conversation: cid, activityId: later.messageId });
        const page2 = (
          await get(0, `/v1/conversations?limit=1&before=${page1.conversations[0].activityId}`, bob.token)
        ).body;
        expect(page2.more).toBe(false);
        expect(page2.conversations).toEqual([
          {
            conversation: `g:${groupId}`,
            kind: 'group',
            group: { groupId, name: 'quiet' },
            lastMessage: null,
            readUpTo: '0',
            unread: 0,
            activityId: expect.stringMatching(/^\d+$/),
          },
        ]);
        expect(BigInt(page2.conversations[0].activityId)).toBeLessThan(BigInt(later.messageId));
        expect((await get(0, '/v1/conversations', eve.token)).body).toEqual({
          conversations: [],
          more: false,
        });
      });
    });

    describe('groups', () => {
      it('sends group events to every member device, the member just added on another node included', async () => {
        const [owner, m1, m2, outsider] = (await createUsers(d.url(0), 4, 'grp')) as TestUser[] as [
          TestUser,
          TestUser,
          TestUser,
          TestUser,
        ];
        const ownerSocket = await open(0, owner);
        const m1Socket = await open(1, m1);
        const m2Socket = await open(2, m2);
        const outsiderSocket = await open(1, outsider);
        const groupId = await createGroup(d.url(0), owner.token, [m1.userId], 'team');
        for (const s of [ownerSocket, m1Socket]) {
          expect(await s.next('group')).toEqual({
            type: 'group',
            groupId,
            event: 'created',
            name: 'team',
            by: owner.userId,
            ts: expect.any(Number),
          });
        }
        expect(
          (
            await http(d.url(1), 'POST', `/v1/groups/${groupId}/members`, {
              token: m1.token,
              body: { userId: m2.userId },
            })
          ).status,
        ).toBe(204);
        for (const s of [m2Socket, ownerSocket, m1Socket]) {
          expect(await s.next('group', () => true, 10_000)).toMatchObject({
            groupId,
            event: 'member_added',
            userId: m2.userId,
            by: m1.userId,
          });
        }
        const renamedByMember = await http(d.url(2), 'PATCH', `/v1/groups/${groupId}`, {
          token: m2.token,
          body: { name: 'x' },
        });
        expect(renamedByMember.status).toBe(403);
        expect(renamedByMember.body.error.code).toBe('forbidden');
        const byOutsider = await http(d.url(2), 'PATCH', `/v1/groups/${groupId}`, {
          token: outsider.token,
          body: { name: 'x' },
        });
        expect(byOutsider.body.error.code).toBe('not_member');
        const renamed = await http(d.url(2), 'PATCH', `/v1/groups/${groupId}`, {
          token: owner.token,
          body: { name: 'crew' },
        });
        expect(renamed.body).toMatchObject({ groupId, name: 'crew' });
        expect(renamed.body.members.toSorted()).toEqual([owner.userId, m1.userId, m2.userId].sort());
        expect(await m2Socket.next('group', () => true, 10_000)).toMatchObject({
          event: 'renamed',
          name: 'crew',
          by: owner.userId,
        });
        expect((await get(1, '/v1/groups', m2.token)).body).toEqual({
          groups: [{ groupId, name: 'crew', members: 3 }],
        });
        expect(
          (
            await http(d.url(0), 'DELETE', `/v1/groups/${groupId}/members/${m2.userId}`, {
              token: owner.token,
            })
          ).status,
        ).toBe(204);
        expect(await m2Socket.next('group', (f) => f.event === 'member_removed', 10_000)).toMatchObject({
          userId: m2.userId,
          by: owner.userId,
        });
        await roundTrip(outsiderSocket);
        expect(outsiderSocket.pending('group')).toEqual([]);
        expect((await get(1, '/v1/groups', m2.token)).body).toEqual({ groups: [] });
        expect((await get(1, '/v1/conversations', m2.token)).body.conversations).toEqual([]);
      });
    });

    describe('typing', () => {
      it('shows typing to the other participants only, drops frames closer than 2 s without an error', async () => {
        const [alice, bob, eve] = (await createUsers(d.url(0), 3, 'typing')) as [
          TestUser,
          TestUser,
          TestUser,
        ];
        const bobPhone = await device(0, bob);
        const a = await open(0, alice);
        const b = await open(1, bob);
        const bPhone = await open(2, bobPhone);
        const cid = dmOf(alice.userId, bob.userId);
        const before = Date.now();
        b.send({ type: 'typing', conversation: cid });
        const t = await a.next('typing', () => true, 10_000);
        expect(t).toEqual({
          type: 'typing',
          conversation: cid,
          userId: bob.userId,
          untilMs: expect.any(Number),
        });
        expect(t.untilMs).toBeGreaterThan(before);
        b.send({ type: 'typing', conversation: cid });
        b.send({ type: 'typing', conversation: cid });
        await roundTrip(b);
        await new Promise((r) => setTimeout(r, 300));
        await roundTrip(a);
        expect(a.pending('typing')).toEqual([]);
        expect(b.pending('error')).toEqual([]);
        expect(bPhone.pending('typing')).toEqual([]);
        const e = await open(1, eve);
        e.send({ type: 'typing', id: 't1', conversation: cid });
        expect(await e.next('error')).toMatchObject({ id: 't1', code: 'not_member' });
      });
    });

    describe('editing and deleting', () => {
      it('edits and deletes live on every device, and only the sender may', async () => {
        const [alice, bob] = (await createUsers(d.url(0), 2, 'edit')) as [TestUser, TestUser];
        const aliceLaptop = await device(2, alice);
        const a = await open(0, alice);
        const aOther = await open(2, aliceLaptop);
        const b = await open(1, bob);
        const m = await send(0, alice, { to: bob.userId, text: 'teh' });
        a.send({ type: 'edit', id: 'e1', messageId: m.messageId, text: 'the' });
        const updated = await a.next('updated');
        expect(updated).toEqual({
          type: 'updated',
          id: 'e1',
          messageId: m.messageId,
          updateId: expect.any(String),
        });
        expect(BigInt(updated.updateId)).toBeGreaterThan(BigInt(m.messageId));
        for (const s of [b, aOther]) {
          expect(await s.next('update', () => true, 10_000)).toEqual({
            type: 'update',
            updateId: updated.updateId,
            messageId: m.messageId,
            conversation: m.conversation,
            from: alice.userId,
            text: 'the',
            ts: expect.any(Number),
          });
        }
        b.send({ type: 'edit', id: 'e2', messageId: m.messageId, text: 'mine' });
        expect(await b.next('error')).toMatchObject({ id: 'e2', code: 'forbidden' });
        a.send({ type: 'edit', id: 'e3', messageId: m.messageId, text: '' });
        expect(await a.next('error')).toMatchObject({ id: 'e3', code: 'empty' });
        a.send({ type: 'delete', id: 'e4', messageId: '12345' });
        expect(await a.next('error')).toMatchObject({ id: 'e4', code: 'not_found' });
        const forbidden = await http(d.url(1), 'DELETE', `/v1/messages/${m.messageId}`, { token: bob.token });
        expect(forbidden.status).toBe(403);
        const tooLong = await http(d.url(1), 'PATCH', `/v1/messages/${m.messageId}`, {
          token: alice.token,
          body: { text: 'x'.repeat(100_001) },
        });
        expect(tooLong.status).toBe(413);
        const deleted = await http(d.url(1), 'DELETE', `/v1/messages/${m.messageId}`, { token: alice.token });
        expect(deleted).toEqual({
          status: 200,
          body: { messageId: m.messageId, updateId: expect.any(String) },
        });
        expect(await b.next('update', (f) => f.deleted === true, 10_000)).toMatchObject({
          messageId: m.messageId,
        });
        const again = await http(d.url(2), 'PATCH', `/v1/messages/${m.messageId}`, {
          token: alice.token,
          body: { text: 'z' },
        });
        expect(again.status).toBe(404);
        const history = await get(2, `/v1/conversations/${m.conversation}/messages`, bob.token);
        expect(history.body.messages[0]).toMatchObject({ messageId: m.messageId, deleted: true, text: '' });
      });

      it('brings an edit and a delete to a device that was offline through sync updates, exactly once', async () => {
        const [alice, bob] = (await createUsers(d.url(0), 2, 'offline')) as [TestUser, TestUser];
        const first = await send(0, alice, { to: bob.userId, text: 'one' });
        const second = await send(1, alice, { to: bob.userId, text: 'two' });
        // Bob's device saw both messages, then went offline; alice changes them meanwhile.
        const since = second.messageId;
        const edited = (
          await http(d.url(2), 'PATCH', `/v1/messages/${first.messageId}`, {
            token: alice.token,
            body: { text: 'ONE' },
          })
        ).body;
        const removed = (
          await http(d.url(0), 'DELETE', `/v1/messages/${second.messageId}`, { token: alice.token })
        ).body;
        const third = await send(2, alice, { to: bob.userId, text: 'three' });
        const s = await open(1, bob);
        const seen = new Map<string, Frame>();
        let cursor = since;
        for (let page = 0; page < 10; page++) {
          s.send({ type: 'sync', since: cursor, limit: 1 });
          const answer = await s.next('sync');
          for (const m of answer.messages) {
            expect(seen.has(m.messageId)).toBe(false);
            seen.set(m.messageId, m);
          }
          for (const u of answer.updates) {
            expect(seen.has(u.updateId)).toBe(false);
            seen.set(u.updateId, u);
          }
          const ids = [
            ...answer.messages.map((m: Frame) => m.messageId),
            ...answer.updates.map((u: Frame) => u.updateId),
          ];
          if (ids.length > 0) cursor = ids.reduce((x, y) => (BigInt(x) > BigInt(y) ? x : y));
          if (!answer.more) break;
        }
        expect([...seen.keys()].sort()).toEqual([edited.updateId, removed.updateId, third.messageId].sort());
        expect(seen.get(edited.updateId)).toMatchObject({
          messageId: first.messageId,
          text: 'ONE',
          from: alice.userId,
        });
        expect(seen.get(removed.updateId)).toMatchObject({ messageId: second.messageId, deleted: true });
        // From the start: the messages as they are now.
        s.send({ type: 'sync', since: '0' });
        const all = await s.next('sync');
        expect(all.messages.map((m: Frame) => [m.text, m.deleted ?? false, typeof m.editedAt])).toEqual([
          ['ONE', false, 'number'],
          ['', true, 'undefined'],
          ['three', false, 'undefined'],
        ]);
        expect(all.updates.map((u: Frame) => u.updateId)).toEqual([edited.updateId, removed.updateId]);
      });
    });

    it('keeps a user with no v1.1 data working as in v1', async () => {
      const u = await createUser(d.url(0), 'plain');
      const s = await open(2, u);
      s.send({ type: 'sync', since: '0' });
      expect(await s.next('sync')).toEqual({ type: 'sync', messages: [], updates: [], more: false });
    });
  });
}
