/** The push registrations of devices in SQLite (PROTOCOL.md "Devices and push"): one row per device. */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { PushRegistration, PushService, PushTokenStore } from '../types.ts';

export const MIGRATION_PUSH_TOKENS = `
  CREATE TABLE push_tokens (
    user_id TEXT NOT NULL, device_id TEXT NOT NULL, provider TEXT NOT NULL, token TEXT NOT NULL,
    updated_at INTEGER NOT NULL, PRIMARY KEY (user_id, device_id)
  ) WITHOUT ROWID;`;

interface Row {
  user_id: string;
  device_id: string;
  provider: string;
  token: string;
  updated_at: number;
}

export class SqlitePushTokens implements PushTokenStore {
  private readonly set: StatementSync;
  private readonly remove: StatementSync;
  private readonly removeIf: StatementSync;
  private readonly list: StatementSync;

  constructor(db: DatabaseSync) {
    this.set = db.prepare(
      `INSERT INTO push_tokens (user_id, device_id, provider, token, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (user_id, device_id) DO UPDATE
       SET provider = excluded.provider, token = excluded.token, updated_at = excluded.updated_at`,
    );
    this.remove = db.prepare('DELETE FROM push_tokens WHERE user_id = ? AND device_id = ?');
    this.removeIf = db.prepare('DELETE FROM push_tokens WHERE user_id = ? AND device_id = ? AND token = ?');
    this.list = db.prepare('SELECT * FROM push_tokens WHERE user_id = ? ORDER BY device_id LIMIT ?');
  }

  async setPushToken(r: PushRegistration): Promise<void> {
    this.set.run(r.userId, r.deviceId, r.provider, r.token, r.updatedAt);
  }

  async removePushToken(userId: string, deviceId: string, token?: string): Promise<void> {
    if (token === undefined) this.remove.run(userId, deviceId);
    else this.removeIf.run(userId, deviceId, token);
  }

  async pushTokens(userId: string, limit: number): Promise<PushRegistration[]> {
    return (this.list.all(userId, limit) as unknown as Row[]).map((r) => ({
      userId: r.user_id,
      deviceId: r.device_id,
      provider: r.provider as PushService,
      token: r.token,
      updatedAt: Number(r.updated_at),
    }));
  }
}
