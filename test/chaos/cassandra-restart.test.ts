/**
 * The shared Cassandra of `npm run services:up` stopped and started again under traffic, with two
 * chat-node processes on it. It runs alone, after every other test (`npm test` runs test/chaos last
 * with vitest.chaos.config.ts), because it takes the shared Cassandra away for a while.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatApi } from '../../client/index.ts';
import { startCluster, type TestCluster } from '../helpers/cluster.ts';
import { idsFrom, type Recorder, recorder, until } from '../helpers/recorder.ts';
import { createUsers, type TestUser } from '../helpers/users.ts';
import { dmOf } from '../helpers/ws.ts';

const ROOT = join(import.meta.dirname, '..', '..');
function services(action: 'up' | 'down'): void {
  execFileSync('bash', [join(ROOT, 'scripts', 'services', `${action}.sh`)], {
    env: { ...process.env, CHAT_SVC_ONLY: 'cassandra' },
    stdio: 'inherit',
  });
}

describe('a cluster whose Cassandra restarts', () => {
  let c: TestCluster;
  let alice: TestUser;
  let bob: TestUser;
  let b: Recorder;

  beforeAll(async () => {
    c = await startCluster(2, { CHAT_HEARTBEAT_MS: '1000' });
    [alice, bob] = (await createUsers(c.nodes[0]!.url, 2)) as [TestUser, TestUser];
    b = recorder(c.nodes[1]!.url, bob.token, { discover: false });
    await b.client.connect();
  }, 180_000);
  afterAll(async () => {
    if (process.env.DEBUG_CLUSTER) for (const n of c.nodes) console.log(n?.logs.join('\n'));
    b?.client.close();
    await c?.close();
  });

  it('says not ready while Cassandra is down, loses nothing accepted before, and serves again after', async () => {
    const api = new ChatApi(c.nodes[0]!.url, { token: alice.token });
    // A poll may meet a kept-alive socket the node just closed (the test blocks while Cassandra
    // stops): such a failed request is asked again, it says nothing about readiness.
    const ready = async (i: number): Promise<boolean> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await new ChatApi(c.nodes[i]!.url).ready();
        } catch (err) {
          if (attempt >= 3) throw err;
        }
      }
    };
    const acked: string[] = [];
    for (let i = 0; i < 20; i++)
      acked.push((await api.postMessage({ to: bob.userId, text: `before ${i}` })).messageId);
    // A burst acknowledged right before the outage: some of it is still on its way to Cassandra.
    const burst = await Promise.all(
      Array.from({ length: 50 }, (_, i) => api.postMessage({ to: bob.userId, text: `burst ${i}` })),
    );
    acked.push(...burst.map((m) => m.messageId).sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1)));

    services('down');
    await until(
      'both nodes say they are not ready',
      async () => !(await ready(0)) && !(await ready(1)),
      30_000,
    );
    // A send with a new client id needs nothing from Cassandra either: the Redis dedup index answers
    // that the id is new. One without an id, to a recipient the node knows, needs no lookup at all.
    // JetStream takes both, and the store writer writes them once Cassandra is back.
    acked.push(
      (await api.postMessage({ id: 'during-1', to: bob.userId, text: 'during, with an id' })).messageId,
    );
    acked.push((await api.postMessage({ to: bob.userId, text: 'during, without an id' })).messageId);
    // Its resend is another matter: the index has seen the id, and only the store can say which
    // message it was. The node says so with `unavailable` (503, which clients retry), not `internal`.
    await expect(
      api.postMessage({ id: 'during-1', to: bob.userId, text: 'during, with an id' }),
    ).rejects.toMatchObject({ status: 503, code: 'unavailable' });

    services('up');
    await until('both nodes ready again', async () => (await ready(0)) && (await ready(1)), 60_000);
    // The first writes after Cassandra's return may still fail while the driver's pools settle; a
    // client tries again (the SDK does): within 30 s one is accepted, and from then on all are.
    await until(
      'a send is accepted again',
      async () => {
        try {
          acked.push((await api.postMessage({ to: bob.userId, text: 'back' })).messageId);
          return true;
        } catch {
          return false;
        }
      },
      30_000,
    );
    for (let i = 0; i < 20; i++)
      acked.push((await api.postMessage({ to: bob.userId, text: `after ${i}` })).messageId);

    // Everything acknowledged is in Cassandra, once (history waits for the store writer).
    const history = await new ChatApi(c.nodes[1]!.url, { token: bob.token }).history(
      dmOf(alice.userId, bob.userId),
      { limit: 200 },
    );
    expect(history.map((m) => m.messageId)).toEqual([...acked].reverse());
    await until('bob saw every acknowledged message', () =>
      acked.every((id) => b.seen.some((m) => m.messageId === id)),
    );
    expect(idsFrom(b.seen, alice.userId)).toEqual(new Set(acked));
  }, 240_000);
});
