/**
 * The HTTP rows of PROTOCOL.md, over real HTTP against a real node: every route, its answers, its
 * error codes and body shape, authentication, and the configurable limits.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { TestSocket } from '../helpers/socket.ts';
import { createUser, createUsers, http, login, type TestUser } from '../helpers/users.ts';

type Res = { status: number; body: any };

/** Asserts a PROTOCOL.md error answer: the status, and a body of exactly {"error":{"code","message"}}. */
function expectError(res: Res, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
  expect(Object.keys(res.body)).toEqual(['error']);
  expect(Object.keys(res.body.error).sort()).toEqual(['code', 'message']);
  expect(typeof res.body.error.message).toBe('string');
  expect(res.body.error.message.length).toBeGreaterThan(0);
}

let seq = 0;
const uniqueName = (prefix: string) => `${prefix}-${process.pid}-${++seq}-${Date.now().toString(36)}`;

/** Creates accounts without logging them in (members of big groups need no session). */
async function signUp(baseUrl: string, n: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const res = await http(baseUrl, 'POST', '/v1/users', {
        body: { username: uniqueName('member'), password: 'pw-member' },
      });
      if (res.status !== 201) throw new Error(`sign-up: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.userId as string;
    }),
  );
}

const dm = (a: string, b: string) => (a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`);
const byIdDesc = (a: string, b: string) => (BigInt(b) > BigInt(a) ? 1 : BigInt(b) < BigInt(a) ? -1 : 0);

describe('the HTTP API of a chat node', () => {
  let t: TestNode;
  beforeAll(async () => {
    t = await startTestNode();
  });
  afterAll(() => t.close());

  const post = (path: string, token: string | undefined, body: unknown) =>
    http(t.baseUrl, 'POST', path, { token, body });
  const get = (path: string, token: string | undefined) => http(t.baseUrl, 'GET', path, { token });

  describe('POST /v1/users', () => {
    it('creates an account and answers 201 with its userId', async () => {
      const res = await post('/v1/users', undefined, { username: uniqueName('alice'), password: 'secret' });
      expect(res.status).toBe(201);
      expect(Object.keys(res.body)).toEqual(['userId']);
      expect(res.body.userId).toMatch(/^[A-Za-z0-9_.-]{1,64}$/);
    });

    it('gives two accounts two different user ids', async () => {
      const a = await post('/v1/users', undefined, { username: uniqueName('x'), password: 'p' });
      const b = await post('/v1/users', undefined, { username: uniqueName('x'), password: 'p' });
      expect([a.status, b.status]).toEqual([201, 201]);
      expect(a.body.userId).not.toBe(b.body.userId);
    });

    it('answers 409 when the username is taken, whatever the password', async () => {
      const username = uniqueName('taken');
      expect((await post('/v1/users', undefined, { username, password: 'one' })).status).toBe(201);
      expectError(await post('/v1/users', undefined, { username, password: 'two' }), 409, 'username_taken');
    });

    it('lets exactly one of several concurrent sign-ups of one username win', async () => {
      const username = uniqueName('race');
      const answers = await Promise.all(
        Array.from({ length: 5 }, (_, i) => post('/v1/users', undefined, { username, password: `pw${i}` })),
      );
      const statuses = answers.map((r) => r.status).sort();
      expect(statuses).toEqual([201, 409, 409, 409, 409]);
      for (const r of answers.filter((x) => x.status === 409)) expectError(r, 409, 'username_taken');
    });

    it.each([
      ['the username is missing', { password: 'pw' }],
      ['the password is missing', { username: 'nobody-pw' }],
      ['the username is not a string', { username: 42, password: 'pw' }],
      ['the password is not a string', { username: 'num-pw', password: 1234 }],
      ['the username is empty', { username: '', password: 'pw' }],
      ['the username has whitespace', { username: 'two words', password: 'pw' }],
      ['the body is a JSON array', ['user', 'pw']],
      ['the body is JSON null', null],
    ])('answers 400 bad_request when %s', async (_what, body) => {
      expectError(
        await http(t.baseUrl, 'POST', '/v1/users', { rawBody: JSON.stringify(body) }),
        400,
        'bad_request',
      );
    });

    it('answers 400 bad_request when the body is not JSON', async () => {
      expectError(
        await http(t.baseUrl, 'POST', '/v1/users', { rawBody: '{"username": "a", "password":' }),
        400,
        'bad_request',
      );
    });

    it('answers 400 bad_request when the body is empty', async () => {
      expectError(await http(t.baseUrl, 'POST', '/v1/users', { rawBody: '' }), 400, 'bad_request');
    });

    it('does not create the account of a refused request', async () => {
      const username = uniqueName('refused');
      expectError(await post('/v1/users', undefined, { username, password: 7 }), 400, 'bad_request');
      expect((await post('/v1/users', undefined, { username, password: 'now-valid' })).status).toBe(201);
    });
  });

  describe('POST /v1/sessions', () => {
    let user: { username: string; password: string; userId: string };
    beforeAll(async () => {
      const username = uniqueName('login');
      const created = await post('/v1/users', undefined, { username, password: 'correct horse' });
      user = { username, password: 'correct horse', userId: created.body.userId };
    });

    it('answers 200 {token,userId,deviceId} with a new device id when none is given', async () => {
      const res = await post('/v1/sessions', undefined, { username: user.username, password: user.password });
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(['deviceId', 'token', 'userId']);
      expect(res.body.userId).toBe(user.userId);
      expect(res.body.deviceId).toMatch(/^[A-Za-z0-9_.-]{1,64}$/);
      expect(typeof res.body.token).toBe('string');
      const again = await post('/v1/sessions', undefined, {
        username: user.username,
        password: user.password,
      });
      expect(again.body.deviceId).not.toBe(res.body.deviceId);
    });

    it('keeps the deviceId it is given, in the answer and in the token', async () => {
      const res = await post('/v1/sessions', undefined, {
        username: user.username,
        password: user.password,
        deviceId: 'tablet.2',
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ userId: user.userId, deviceId: 'tablet.2' });
      const socket = new WebSocket(t.wsUrl, { headers: { authorization: `Bearer ${res.body.token}` } });
      const welcome = await new Promise<any>((resolve, reject) => {
        socket.once('message', (data) => resolve(JSON.parse(data.toString())));
        socket.once('error', reject);
      });
      socket.terminate();
      expect(welcome).toMatchObject({ type: 'welcome', userId: user.userId, deviceId: 'tablet.2' });
    });

    it('answers 401 unauthorized for a wrong password', async () => {
      expectError(
        await post('/v1/sessions', undefined, { username: user.username, password: 'wrong' }),
        401,
        'unauthorized',
      );
    });

    it('answers 401 unauthorized for an unknown user', async () => {
      expectError(
        await post('/v1/sessions', undefined, { username: uniqueName('ghost'), password: 'whatever' }),
        401,
        'unauthorized',
      );
    });

    it('answers 400 bad_request for a body without a password or with a malformed deviceId', async () => {
      expectError(await post('/v1/sessions', undefined, { username: user.username }), 400, 'bad_request');
      expectError(
        await post('/v1/sessions', undefined, {
          username: user.username,
          password: user.password,
          deviceId: 'not a device id!',
        }),
        400,
        'bad_request',
      );
      expectError(await http(t.baseUrl, 'POST', '/v1/sessions', { rawBody: 'nope' }), 400, 'bad_request');
    });
  });

  describe('groups', () => {
    let creator: TestUser;
    let outsider: TestUser;
    /** 100 accounts that are not `creator`. */
    let others: string[];
    beforeAll(async () => {
      [creator, outsider] = (await createUsers(t.baseUrl, 2, 'grp')) as [TestUser, TestUser];
      others = await signUp(t.baseUrl, 100);
    });

    const members = async (groupId: string, token: string) => {
      const res = await get(`/v1/groups/${groupId}`, token);
      expect(res.status).toBe(200);
      return [...(res.body.members as string[])].sort();
    };

    describe('POST /v1/groups', () => {
      it('answers 201 {groupId} and adds the creator as a member', async () => {
        const res = await post('/v1/groups', creator.token, { name: 'team', members: [others[0]] });
        expect(res.status).toBe(201);
        expect(res.body.groupId).toMatch(/^[A-Za-z0-9_.-]{1,64}$/);
        expect(await members(res.body.groupId, creator.token)).toEqual([creator.userId, others[0]!].sort());
      });

      it('accepts 100 distinct members, creator included', async () => {
        const res = await post('/v1/groups', creator.token, { name: 'full', members: others.slice(0, 99) });
        expect(res.status).toBe(201);
        expect(await members(res.body.groupId, creator.token)).toEqual(
          [creator.userId, ...others.slice(0, 99)].sort(),
        );
      });

      it('refuses 101 distinct members, creator included, with 400', async () => {
        const res = await post('/v1/groups', creator.token, { name: 'too big', members: others });
        expectError(res, 400, 'group_full');
      });

      it('counts a member listed twice, and the creator listed again, once', async () => {
        const list = [...others.slice(0, 99), ...others.slice(0, 99), creator.userId];
        const res = await post('/v1/groups', creator.token, { name: 'dupes', members: list });
        expect(res.status).toBe(201);
        const got = await members(res.body.groupId, creator.token);
        expect(got).toHaveLength(100);
        expect(got).toEqual([creator.userId, ...others.slice(0, 99)].sort());
      });

      it('refuses members that are not users', async () => {
        const res = await post('/v1/groups', creator.token, {
          name: 'ghosts',
          members: [others[0], 'u-nobody'],
        });
        expectError(res, 400, 'unknown_recipient');
      });

      it('answers 400 bad_request for members that are not a list of ids', async () => {
        expectError(
          await post('/v1/groups', creator.token, { name: 'x', members: 'abc' }),
          400,
          'bad_request',
        );
        expectError(
          await post('/v1/groups', creator.token, { name: 'x', members: ['not an id'] }),
          400,
          'bad_request',
        );
        expectError(await post('/v1/groups', creator.token, { name: 7 }), 400, 'bad_request');
      });
    });

    describe('GET /v1/groups/{id}', () => {
      it('answers 200 {groupId,name,members} to a member', async () => {
        const created = await post('/v1/groups', creator.token, { name: 'Readers ✓', members: [others[1]] });
        const res = await get(`/v1/groups/${created.body.groupId}`, creator.token);
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ groupId: created.body.groupId, name: 'Readers ✓' });
        expect([...res.body.members].sort()).toEqual([creator.userId, others[1]!].sort());
      });

      it('answers 403 not_member to a user outside the group', async () => {
        const created = await post('/v1/groups', creator.token, { name: 'private', members: [] });
        expectError(await get(`/v1/groups/${created.body.groupId}`, outsider.token), 403, 'not_member');
      });

      it('answers 403 not_member for a group that does not exist', async () => {
        expectError(await get('/v1/groups/g-does-not-exist', creator.token), 403, 'not_member');
      });
    });

    describe('POST /v1/groups/{id}/members', () => {
      it('answers 204 and the new member is in the group', async () => {
        const created = await post('/v1/groups', creator.token, { name: 'grow', members: [] });
        const gid = created.body.groupId;
        const res = await post(`/v1/groups/${gid}/members`, creator.token, { userId: outsider.userId });
        expect(res.status).toBe(204);
        expect(res.body).toBeUndefined();
        expect(await members(gid, creator.token)).toEqual([creator.userId, outsider.userId].sort());
        expect((await get(`/v1/groups/${gid}`, outsider.token)).status).toBe(200);
      });

      it('answers 409 when the group already has 100 members', async () => {
        const created = await post('/v1/groups', creator.token, {
          name: 'hundred',
          members: others.slice(0, 99),
        });
        const gid = created.body.groupId;
        expectError(
          await post(`/v1/groups/${gid}/members`, creator.token, { userId: others[99] }),
          409,
          'group_full',
        );
        expect(await members(gid, creator.token)).toHaveLength(100);
        expect(await members(gid, creator.token)).not.toContain(others[99]);
      });

      it('answers 403 not_member when the caller is not a member, and adds nobody', async () => {
        const created = await post('/v1/groups', creator.token, { name: 'closed', members: [] });
        const gid = created.body.groupId;
        expectError(
          await post(`/v1/groups/${gid}/members`, outsider.token, { userId: outsider.userId }),
          403,
          'not_member',
        );
        expect(await members(gid, creator.token)).toEqual([creator.userId]);
      });

      it('answers 404 unknown_recipient for a user that does not exist', async () => {
        const created = await post('/v1/groups', creator.token, { name: 'g', members: [] });
        expectError(
          await post(`/v1/groups/${created.body.groupId}/members`, creator.token, { userId: 'u-nobody' }),
          404,
          'unknown_recipient',
        );
      });
    });

    describe('DELETE /v1/groups/{id}/members/{userId}', () => {
      it('answers 204 when a member removes itself; then the group answers it 403', async () => {
        const member = await createUser(t.baseUrl, 'leaver');
        const created = await post('/v1/groups', creator.token, { name: 'leave', members: [member.userId] });
        const gid = created.body.groupId;
        expect((await get(`/v1/groups/${gid}`, member.token)).status).toBe(200);
        const res = await http(t.baseUrl, 'DELETE', `/v1/groups/${gid}/members/${member.userId}`, {
          token: member.token,
        });
        expect(res.status).toBe(204);
        expectError(await get(`/v1/groups/${gid}`, member.token), 403, 'not_member');
        expect(await members(gid, creator.token)).toEqual([creator.userId]);
      });

      it('stops group messages from reaching the history of a member that left', async () => {
        const member = await createUser(t.baseUrl, 'leaver');
        const created = await post('/v1/groups', creator.token, { name: 'leave2', members: [member.userId] });
        const gid = created.body.groupId;
        await http(t.baseUrl, 'DELETE', `/v1/groups/${gid}/members/${member.userId}`, {
          token: member.token,
        });
        expectError(
          await post('/v1/messages', member.token, { group: gid, text: 'still here?' }),
          403,
          'not_member',
        );
        expectError(await get(`/v1/conversations/g:${gid}/messages`, member.token), 403, 'not_member');
      });

      it('answers 403 to a member that is not the creator removing someone else', async () => {
        const [m1, m2] = await createUsers(t.baseUrl, 2, 'rm');
        const created = await post('/v1/groups', creator.token, {
          name: 'rm',
          members: [m1!.userId, m2!.userId],
        });
        const gid = created.body.groupId;
        const res = await http(t.baseUrl, 'DELETE', `/v1/groups/${gid}/members/${m2!.userId}`, {
          token: m1!.token,
        });
        expectError(res, 403, 'forbidden');
        expect(await members(gid, creator.token)).toContain(m2!.userId);
      });
    });
  });

  describe('POST /v1/messages', () => {
    let a: TestUser;
    let b: TestUser;
    let outsider: TestUser;
    let groupId: string;
    beforeAll(async () => {
      [a, b, outsider] = (await createUsers(t.baseUrl, 3, 'msg')) as [TestUser, TestUser, TestUser];
      groupId = (await post('/v1/groups', a!.token, { name: 'chat', members: [b!.userId] })).body.groupId;
    });

    it('answers 201 {messageId,conversation,ts} and the message is then in the history', async () => {
      const before = Date.now();
      const res = await post('/v1/messages', a.token, { to: b.userId, text: 'hello over HTTP' });
      const after = Date.now();
      expect(res.status).toBe(201);
      expect(Object.keys(res.body).sort()).toEqual(['conversation', 'messageId', 'ts']);
      expect(res.body.messageId).toMatch(/^[1-9][0-9]*$/);
      expect(res.body.conversation).toBe(dm(a.userId, b.userId));
      expect(Number.isInteger(res.body.ts)).toBe(true);
      expect(res.body.ts).toBeGreaterThanOrEqual(before);
      expect(res.body.ts).toBeLessThanOrEqual(after);
      for (const reader of [a, b]) {
        const history = await get(`/v1/conversations/${res.body.conversation}/messages`, reader.token);
        expect(history.status).toBe(200);
        expect(history.body.messages[0]).toEqual({
          messageId: res.body.messageId,
          conversation: res.body.conversation,
          from: a.userId,
          to: b.userId,
          text: 'hello over HTTP',
          ts: res.body.ts,
        });
      }
    });

    it('stores a group message in the group conversation', async () => {
      const res = await post('/v1/messages', b.token, { group: groupId, text: 'hi group' });
      expect(res.status).toBe(201);
      expect(res.body.conversation).toBe(`g:${groupId}`);
      const history = await get(`/v1/conversations/g:${groupId}/messages`, a.token);
      expect(history.body.messages[0]).toEqual({
        messageId: res.body.messageId,
        conversation: `g:${groupId}`,
        from: b.userId,
        group: groupId,
        text: 'hi group',
        ts: res.body.ts,
      });
    });

    it('answers the same messageId for the same "id" twice, and stores the message once', async () => {
      const [x, y] = await createUsers(t.baseUrl, 2, 'dedup');
      const first = await post('/v1/messages', x!.token, { id: 'client-7', to: y!.userId, text: 'once' });
      const second = await post('/v1/messages', x!.token, { id: 'client-7', to: y!.userId, text: 'once' });
      expect([first.status, second.status]).toEqual([201, 201]);
      expect(second.body).toEqual(first.body);
      const other = await post('/v1/messages', x!.token, { id: 'client-8', to: y!.userId, text: 'twice' });
      expect(other.body.messageId).not.toBe(first.body.messageId);
      const history = await get(`/v1/conversations/${dm(x!.userId, y!.userId)}/messages`, y!.token);
      expect(history.body.messages.map((m: any) => m.text)).toEqual(['twice', 'once']);
    });

    it('answers 400 empty for an empty or missing text', async () => {
      expectError(await post('/v1/messages', a.token, { to: b.userId, text: '' }), 400, 'empty');
      expectError(await post('/v1/messages', a.token, { to: b.userId }), 400, 'empty');
    });

    it('answers 400 bad_request for a text that is not a string', async () => {
      expectError(await post('/v1/messages', a.token, { to: b.userId, text: 12 }), 400, 'bad_request');
    });

    it('answers 413 too_long for a text of 100,001 code points', async () => {
      expectError(
        await post('/v1/messages', a.token, { to: b.userId, text: 'a'.repeat(100_001) }),
        413,
        'too_long',
      );
      expectError(
        await post('/v1/messages', a.token, { to: b.userId, text: '😀'.repeat(100_001) }),
        413,
        'too_long',
      );
    });

    it('answers 201 for a text of 100,000 emoji (4-byte code points) and keeps it whole', async () => {
      const text = `${'😀'.repeat(99_999)}𝄞`;
      const res = await post('/v1/messages', a.token, { to: b.userId, text });
      expect(res.status).toBe(201);
      const history = await get(`/v1/conversations/${res.body.conversation}/messages?limit=1`, b.token);
      const stored = history.body.messages[0];
      expect(stored.messageId).toBe(res.body.messageId);
      expect([...stored.text]).toHaveLength(100_000);
      expect(stored.text === text).toBe(true);
    });

    it('answers 403 not_member for a group the sender is not in, or one that does not exist', async () => {
      expectError(
        await post('/v1/messages', outsider.token, { group: groupId, text: 'let me in' }),
        403,
        'not_member',
      );
      expectError(
        await post('/v1/messages', a.token, { group: 'g-missing', text: 'anyone?' }),
        403,
        'not_member',
      );
    });

    it('answers 404 unknown_recipient for a user that does not exist', async () => {
      expectError(
        await post('/v1/messages', a.token, { to: 'u-nobody', text: 'hello?' }),
        404,
        'unknown_recipient',
      );
    });

    it('answers 400 bad_request when both "to" and "group" are given, or neither', async () => {
      expectError(
        await post('/v1/messages', a.token, { to: b.userId, group: groupId, text: 'both' }),
        400,
        'bad_request',
      );
      expectError(await post('/v1/messages', a.token, { text: 'neither' }), 400, 'bad_request');
    });

    it('stores nothing for a refused message', async () => {
      const [x, y] = await createUsers(t.baseUrl, 2, 'refused');
      await post('/v1/messages', x!.token, { to: y!.userId, text: '' });
      await post('/v1/messages', x!.token, { to: y!.userId, text: 'z'.repeat(100_001) });
      const history = await get(`/v1/conversations/${dm(x!.userId, y!.userId)}/messages`, x!.token);
      expect(history.body).toEqual({ messages: [] });
    });
  });

  describe('GET /v1/conversations/{cid}/messages', () => {
    let a: TestUser;
    let b: TestUser;
    let outsider: TestUser;
    let cid: string;
    /** Every message id of the conversation, newest first. */
    let ids: string[];
    beforeAll(async () => {
      [a, b, outsider] = (await createUsers(t.baseUrl, 3, 'hist')) as [TestUser, TestUser, TestUser];
      cid = dm(a!.userId, b!.userId);
      ids = [];
      for (let batch = 0; batch < 10; batch++) {
        const sent = await Promise.all(
          Array.from({ length: 25 }, (_, i) => {
            const from = i % 2 === 0 ? a! : b!;
            const to = from === a ? b! : a!;
            return post('/v1/messages', from.token, { to: to.userId, text: `m${batch}-${i}` });
          }),
        );
        for (const s of sent) {
          if (s.status !== 201) throw new Error(`send: ${s.status} ${JSON.stringify(s.body)}`);
          ids.push(s.body.messageId);
        }
      }
      ids.sort(byIdDesc);
    });

    it('answers the newest 50 messages, newest first, when no limit is given', async () => {
      const res = await get(`/v1/conversations/${cid}/messages`, a.token);
      expect(res.status).toBe(200);
      expect(res.body.messages.map((m: any) => m.messageId)).toEqual(ids.slice(0, 50));
    });

    it('walks the whole history with `before`, with no gap and no repeat', async () => {
      const seen: string[] = [];
      let before: string | undefined;
      for (let page = 0; page < 20; page++) {
        const q = before === undefined ? '?limit=40' : `?limit=40&before=${before}`;
        const res = await get(`/v1/conversations/${cid}/messages${q}`, b.token);
        expect(res.status).toBe(200);
        const got: string[] = res.body.messages.map((m: any) => m.messageId);
        if (got.length === 0) break;
        expect(got.length).toBeLessThanOrEqual(40);
        seen.push(...got);
        before = got.at(-1);
      }
      expect(seen).toEqual(ids);
    });

    it('answers only messages older than `before`', async () => {
      const res = await get(`/v1/conversations/${cid}/messages?before=${ids[10]}&limit=5`, a.token);
      expect(res.body.messages.map((m: any) => m.messageId)).toEqual(ids.slice(11, 16));
    });

    it('clamps a limit of 500 to 200', async () => {
      expect(ids.length).toBeGreaterThan(200);
      const res = await get(`/v1/conversations/${cid}/messages?limit=500`, a.token);
      expect(res.status).toBe(200);
      expect(res.body.messages.map((m: any) => m.messageId)).toEqual(ids.slice(0, 200));
    });

    it('answers 403 not_member to a user outside a 1:1 conversation', async () => {
      expectError(await get(`/v1/conversations/${cid}/messages`, outsider.token), 403, 'not_member');
    });

    it('answers 403 not_member to a user outside a group', async () => {
      const g = await post('/v1/groups', a.token, { name: 'hist', members: [b.userId] });
      await post('/v1/messages', a.token, { group: g.body.groupId, text: 'members only' });
      expectError(
        await get(`/v1/conversations/g:${g.body.groupId}/messages`, outsider.token),
        403,
        'not_member',
      );
    });

    it.each([
      ['an unknown prefix', 'x:abc'],
      ['a dm with one user', 'dm:onlyone'],
      ['a dm with its users unsorted', 'dm:zzz:aaa'],
      ['a dm with three users', 'dm:a:b:c'],
      ['an empty group id', 'g:'],
    ])('answers 400 bad_request for a malformed conversation id (%s)', async (_what, bad) => {
      expectError(
        await get(`/v1/conversations/${encodeURIComponent(bad)}/messages`, a.token),
        400,
        'bad_request',
      );
    });

    it('answers 400 bad_request for a malformed `before` or `limit`', async () => {
      expectError(await get(`/v1/conversations/${cid}/messages?before=abc`, a.token), 400, 'bad_request');
      expectError(await get(`/v1/conversations/${cid}/messages?limit=0`, a.token), 400, 'bad_request');
      expectError(await get(`/v1/conversations/${cid}/messages?limit=-3`, a.token), 400, 'bad_request');
    });
  });

  describe('GET /v1/discovery', () => {
    it("answers this node's id and its own base URL", async () => {
      const u = await createUser(t.baseUrl, 'disc');
      const res = await get('/v1/discovery', u.token);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ nodeId: t.node.nodeId, url: t.baseUrl });
      const s = await TestSocket.open(`${res.body.url.replace(/^http/, 'ws')}/v1/ws`, u.token);
      s.close();
    });
  });

  describe('GET /v1/presence', () => {
    it('answers offline with lastActiveAt null for users never seen, in the order asked', async () => {
      const [me, x, y] = await createUsers(t.baseUrl, 3, 'pres');
      const res = await get(`/v1/presence?users=${x!.userId},${y!.userId}`, me!.token);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        presence: [
          { userId: x!.userId, status: 'offline', lastActiveAt: null },
          { userId: y!.userId, status: 'offline', lastActiveAt: null },
        ],
      });
    });

    it('answers online while a WebSocket of the user is open, and offline with a time after it closes', async () => {
      const [me, x, y] = await createUsers(t.baseUrl, 3, 'pres');
      const opened = Date.now();
      const sx = await TestSocket.open(t.wsUrl, x!.token);
      const watcher = await TestSocket.open(t.wsUrl, me!.token);
      try {
        const online = await get(`/v1/presence?users=${x!.userId},${y!.userId}`, me!.token);
        expect(online.body.presence).toEqual([
          { userId: x!.userId, status: 'online', lastActiveAt: expect.any(Number) },
          { userId: y!.userId, status: 'offline', lastActiveAt: null },
        ]);
        expect(online.body.presence[0].lastActiveAt).toBeGreaterThanOrEqual(opened);

        watcher.send({ type: 'presence.subscribe', users: [x!.userId] });
        await watcher.next('presence', (f) => f.userId === x!.userId && f.status === 'online');
        sx.close();
        await watcher.next('presence', (f) => f.userId === x!.userId && f.status === 'offline');
        const offline = await get(`/v1/presence?users=${x!.userId}`, me!.token);
        expect(offline.body.presence).toEqual([
          { userId: x!.userId, status: 'offline', lastActiveAt: online.body.presence[0].lastActiveAt },
        ]);
      } finally {
        sx.close();
        watcher.close();
      }
    });

    it('answers 400 bad_request for a user id that is not an id', async () => {
      const me = await createUser(t.baseUrl, 'pres');
      expectError(await get('/v1/presence?users=ok,not%20ok', me.token), 400, 'bad_request');
    });
  });

  describe('health and metrics', () => {
    it('answers 200 on /healthz and /readyz', async () => {
      expect((await get('/healthz', undefined)).status).toBe(200);
      expect(await get('/readyz', undefined)).toEqual({ status: 200, body: { status: 'ready' } });
    });

    it('exposes the chat metrics as Prometheus text', async () => {
      const res = await fetch(`${t.baseUrl}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = await res.text();
      for (const [name, type] of [
        ['chat_connections', 'gauge'],
        ['chat_frames_in_total', 'counter'],
        ['chat_messages_in_total', 'counter'],
        ['chat_delivery_latency_seconds', 'histogram'],
        ['chat_errors_total', 'counter'],
        ['chat_store_latency_seconds', 'histogram'],
      ]) {
        expect(text).toContain(`# TYPE ${name} ${type}\n`);
      }
    });

    it('counts an accepted message in chat_messages_in_total', async () => {
      const value = async () => {
        const text = await (await fetch(`${t.baseUrl}/metrics`)).text();
        const line = text.split('\n').find((l) => l.startsWith('chat_messages_in_total '));
        return Number(line?.split(' ')[1]);
      };
      const [x, y] = await createUsers(t.baseUrl, 2, 'metric');
      const before = await value();
      expect(Number.isFinite(before)).toBe(true);
      expect((await post('/v1/messages', x!.token, { to: y!.userId, text: 'count me' })).status).toBe(201);
      expect(await value()).toBe(before + 1);
    });
  });

  describe('authentication', () => {
    let u: TestUser;
    let gid: string;
    let tokens: Record<string, string | undefined>;
    beforeAll(async () => {
      u = await createUser(t.baseUrl, 'auth');
      gid = (await post('/v1/groups', u.token, { name: 'auth', members: [] })).body.groupId;
      const [header, payload] = u.token.split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
      const otherKey = new TextEncoder().encode('x'.repeat(48));
      tokens = {
        none: undefined,
        'a token signed with another secret': await new SignJWT({ did: u.deviceId })
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject(u.userId)
          .setIssuer(claims.iss)
          .setIssuedAt()
          .setExpirationTime('1h')
          .sign(otherKey),
        'a real token with its subject changed': [
          header,
          Buffer.from(JSON.stringify({ ...claims, sub: 'u-someone-else' })).toString('base64url'),
          u.token.split('.')[2],
        ].join('.'),
        'an unsigned token (alg none)': [
          Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url'),
          payload,
          '',
        ].join('.'),
        'a string that is not a token': 'not-a-jwt',
      };
    });

    const routes: [string, string, () => unknown][] = [
      ['POST', '/v1/groups', () => ({ name: 'x', members: [] })],
      ['GET', '/v1/groups/{gid}', () => undefined],
      ['POST', '/v1/groups/{gid}/members', () => ({ userId: u.userId })],
      ['DELETE', '/v1/groups/{gid}/members/u-not-a-member', () => undefined],
      ['POST', '/v1/messages', () => ({ to: u.userId, text: 'hi' })],
      ['GET', '/v1/conversations/{cid}/messages', () => undefined],
      ['GET', '/v1/discovery', () => undefined],
      ['GET', '/v1/presence?users={uid}', () => undefined],
    ];
    const expand = (path: string) =>
      path.replaceAll('{gid}', gid).replaceAll('{uid}', u.userId).replaceAll('{cid}', dm(u.userId, u.userId));

    it.each(routes)(
      '%s %s answers 401 unauthorized without a token or with a forged one',
      async (method, path, body) => {
        for (const [what, token] of Object.entries(tokens)) {
          const res = await http(t.baseUrl, method, expand(path), { token, body: body() });
          expect({ what, status: res.status }).toEqual({ what, status: 401 });
          expectError(res, 401, 'unauthorized');
        }
        // The same request with the real token is not refused for its authentication.
        const real = await http(t.baseUrl, method, expand(path), { token: u.token, body: body() });
        expect(real.status).not.toBe(401);
        expect(real.status).toBeLessThan(300);
      },
    );

    it('answers 401 to a token signed with the node secret once it has expired', async () => {
      const secret = new TextEncoder().encode(readFileSync(join(t.dataDir, 'jwt-secret'), 'utf8').trim());
      const claims = JSON.parse(Buffer.from(u.token.split('.')[1]!, 'base64url').toString());
      const make = (exp: number) =>
        new SignJWT({ did: u.deviceId })
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject(u.userId)
          .setIssuer(claims.iss)
          .setIssuedAt(exp - 3600)
          .setExpirationTime(exp)
          .sign(secret);
      const now = Math.floor(Date.now() / 1000);
      expect((await get('/v1/discovery', await make(now + 3600))).status).toBe(200);
      expectError(await get('/v1/discovery', await make(now - 60)), 401, 'unauthorized');
    });

    it('answers 401 to a scheme other than Bearer', async () => {
      const res = await fetch(`${t.baseUrl}/v1/discovery`, {
        headers: { authorization: `Basic ${u.token}` },
      });
      expect(res.status).toBe(401);
      expectError({ status: res.status, body: await res.json() }, 401, 'unauthorized');
    });

    it('does not need a token for POST /v1/users and POST /v1/sessions', async () => {
      const username = uniqueName('public');
      expect((await post('/v1/users', undefined, { username, password: 'pw' })).status).toBe(201);
      expect((await post('/v1/sessions', undefined, { username, password: 'pw' })).status).toBe(200);
    });
  });
});

describe('a node with a small per-user send rate (framesPerSecond 1, frameBurst 3)', () => {
  let t: TestNode;
  beforeAll(async () => {
    t = await startTestNode({ framesPerSecond: 1, frameBurst: 3 });
  });
  afterAll(() => t.close());

  it('answers 429 rate_limited to POST /v1/messages past the burst, and stores nothing for it', async () => {
    const [a, b] = await createUsers(t.baseUrl, 2, 'rate');
    const statuses: number[] = [];
    let refused: Res | undefined;
    for (let i = 0; i < 4; i++) {
      const res = await http(t.baseUrl, 'POST', '/v1/messages', {
        token: a!.token,
        body: { to: b!.userId, text: `n${i}` },
      });
      statuses.push(res.status);
      if (res.status !== 201) refused = res;
    }
    expect(statuses).toEqual([201, 201, 201, 429]);
    expectError(refused!, 429, 'rate_limited');
    const history = await http(t.baseUrl, 'GET', `/v1/conversations/${dm(a!.userId, b!.userId)}/messages`, {
      token: b!.token,
    });
    expect(history.body.messages.map((m: any) => m.text)).toEqual(['n2', 'n1', 'n0']);
  });

  it('limits each user on its own', async () => {
    const [a, b] = await createUsers(t.baseUrl, 2, 'rate');
    const send = (from: TestUser, to: TestUser) =>
      http(t.baseUrl, 'POST', '/v1/messages', { token: from.token, body: { to: to.userId, text: 'x' } });
    for (let i = 0; i < 3; i++) expect((await send(a!, b!)).status).toBe(201);
    expect((await send(a!, b!)).status).toBe(429);
    expect((await send(b!, a!)).status).toBe(201);
  });
});

describe('a node with a per-address sign-up limit of 3 a minute', () => {
  let t: TestNode;
  beforeAll(async () => {
    t = await startTestNode({ signupsPerMinute: 3 });
  });
  afterAll(() => t.close());

  it('answers 429 rate_limited to the 4th account from one address, and does not create it', async () => {
    const names = Array.from({ length: 4 }, () => uniqueName('signup'));
    const answers: Res[] = [];
    for (const username of names)
      answers.push(await http(t.baseUrl, 'POST', '/v1/users', { body: { username, password: 'pw' } }));
    expect(answers.map((r) => r.status)).toEqual([201, 201, 201, 429]);
    expectError(answers[3]!, 429, 'rate_limited');
    // The refused account does not exist; the others can log in.
    expect((await login(t.baseUrl, names[0]!, 'pw')).userId).toBe(answers[0]!.body.userId);
    expectError(
      await http(t.baseUrl, 'POST', '/v1/sessions', { body: { username: names[3], password: 'pw' } }),
      401,
      'unauthorized',
    );
  });
});
