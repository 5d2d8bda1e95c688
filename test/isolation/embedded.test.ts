/** The isolation cases (cases.ts) on the embedded node, and its private files. */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { Tokens } from '../../chat-node/chat/tokens.ts';
import { startTestNode } from '../helpers/node.ts';
import { createUser } from '../helpers/users.ts';
import { describeIsolation, type IsolationNode } from './cases.ts';

async function startEmbedded(overrides: Parameters<typeof startTestNode>[0]): Promise<IsolationNode> {
  const t = await startTestNode(overrides);
  const secret = readFileSync(join(t.dataDir, 'jwt-secret'), 'utf8').trim();
  return Object.assign(t, {
    signToken: (claims: { userId: string; deviceId: string }) => new Tokens(secret, 3600).sign(claims),
    async deleteUser(userId: string) {
      const db = new DatabaseSync(join(t.dataDir, 'chat.db'));
      try {
        db.prepare('DELETE FROM users WHERE user_id = ?').run(userId);
      } finally {
        db.close();
      }
    },
  });
}

describeIsolation('embedded', startEmbedded, { inbox: 40, maxPingMs: 100 });

describe('the embedded data dir', () => {
  let t: IsolationNode | undefined;
  afterAll(() => t?.close());

  it('is readable by the node user only: the dir 0700, the database, its WAL and SHM and the secret 0600', async () => {
    t = await startEmbedded({});
    await createUser(t.baseUrl, 'files');
    const mode = (f: string) => statSync(join(t!.dataDir, f)).mode & 0o777;
    expect(statSync(t.dataDir).mode & 0o777).toBe(0o700);
    for (const f of ['chat.db', 'chat.db-wal', 'chat.db-shm', 'jwt-secret'])
      expect([f, mode(f)]).toEqual([f, 0o600]);
  });
});
