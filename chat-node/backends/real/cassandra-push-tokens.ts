/**
 * The push registrations of devices in Cassandra (PROTOCOL.md "Devices and push"): table
 * `push_tokens`, one partition per user, one row per device (`push_token`: `token` is a CQL keyword).
 *
 * Each registration is written USING TIMESTAMP its time (µs). Removing a token the provider rejected
 * deletes the row only as it was when read, timestamped one microsecond after that registration: a
 * device that registered again meanwhile keeps its newer token.
 */
import type cassandra from 'cassandra-driver';
import type { PushRegistration, PushService, PushTokenStore } from '../types.ts';

const OPTIONS = { prepare: true, isIdempotent: true } as const;

export class CassandraPushTokens implements PushTokenStore {
  private readonly client: cassandra.Client;
  private readonly q: Record<'set' | 'remove' | 'removeAt' | 'one' | 'list', string>;

  constructor(client: cassandra.Client, ks: string) {
    this.client = client;
    this.q = {
      set: `INSERT INTO ${ks}.push_tokens (user_id, device_id, provider, push_token, updated_at) VALUES (?, ?, ?, ?, ?)
        USING TIMESTAMP ?`,
      remove: `DELETE FROM ${ks}.push_tokens WHERE user_id = ? AND device_id = ?`,
      removeAt: `DELETE FROM ${ks}.push_tokens USING TIMESTAMP ? WHERE user_id = ? AND device_id = ?`,
      one: `SELECT push_token, updated_at FROM ${ks}.push_tokens WHERE user_id = ? AND device_id = ?`,
      list: `SELECT * FROM ${ks}.push_tokens WHERE user_id = ? LIMIT ?`,
    };
  }

  async setPushToken(r: PushRegistration): Promise<void> {
    const at = BigInt(r.updatedAt);
    await this.client.execute(
      this.q.set,
      [r.userId, r.deviceId, r.provider, r.token, at, at * 1000n],
      OPTIONS,
    );
  }

  async removePushToken(userId: string, deviceId: string, token?: string): Promise<void> {
    if (token === undefined) {
      await this.client.execute(this.q.remove, [userId, deviceId], OPTIONS);
      return;
    }
    const row = (await this.client.execute(this.q.one, [userId, deviceId], OPTIONS)).first();
    if (!row || row.get('push_token') !== token) return;
    const at = (row.get('updated_at') as bigint) * 1000n + 1n;
    await this.client.execute(this.q.removeAt, [at, userId, deviceId], OPTIONS);
  }

  async pushTokens(userId: string, limit: number): Promise<PushRegistration[]> {
    const rs = await this.client.execute(this.q.list, [userId, limit], OPTIONS);
    return rs.rows.map((r) => ({
      userId,
      deviceId: r.get('device_id') as string,
      provider: r.get('provider') as PushService,
      token: r.get('push_token') as string,
      updatedAt: Number(r.get('updated_at') as bigint),
    }));
  }
}
