/** The push credentials in the configuration: all or none of a service's keys, files read once, no secret repeated. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { devicePushProviders } from '../../chat-node/backends/real/device-push.ts';
import { loadNodeConfig } from '../../common/node-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'push-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SECRET = 'do-not-print-this-secret';

describe('push configuration', () => {
  it('refuses a service with only some of its keys, naming the missing ones', () => {
    expect(() =>
      loadNodeConfig({ env: { CHAT_PUSH_APNS_KEY_FILE: '/k.p8', CHAT_PUSH_APNS_KEY_ID: 'K' } }),
    ).toThrow(/CHAT_PUSH_APNS_TEAM_ID, CHAT_PUSH_APNS_TOPIC: required for APNs/);
    expect(() => loadNodeConfig({ env: { CHAT_PUSH_VAPID_PUBLIC_KEY: 'x' } })).toThrow(
      /CHAT_PUSH_VAPID_PRIVATE_KEY_FILE, CHAT_PUSH_VAPID_SUBJECT: required for Web Push/,
    );
    expect(() =>
      loadNodeConfig({
        env: {
          CHAT_PUSH_VAPID_PUBLIC_KEY: 'x',
          CHAT_PUSH_VAPID_PRIVATE_KEY_FILE: '/v',
          CHAT_PUSH_VAPID_SUBJECT: 'ops',
        },
      }),
    ).toThrow(/CHAT_PUSH_VAPID_SUBJECT: must be a mailto: or https: URL/);
  });

  it('builds no provider without credentials', () => {
    expect(devicePushProviders(loadNodeConfig({ env: {} }))).toEqual({});
  });

  it('names the key of an unreadable or malformed credentials file, without repeating its content', () => {
    const config = (env: Record<string, string>) => loadNodeConfig({ env });
    expect(() =>
      devicePushProviders(config({ CHAT_PUSH_FCM_CREDENTIALS_FILE: join(dir, 'missing.json') })),
    ).toThrow(/CHAT_PUSH_FCM_CREDENTIALS_FILE: cannot read .*missing.json \(ENOENT\)/);
    const cases: [Record<string, string>, string, string][] = [
      [{ CHAT_PUSH_FCM_CREDENTIALS_FILE: join(dir, 'sa.json') }, 'sa.json', `{"private_key": "${SECRET}`],
      [
        {
          CHAT_PUSH_APNS_KEY_FILE: join(dir, 'k.p8'),
          CHAT_PUSH_APNS_KEY_ID: 'K',
          CHAT_PUSH_APNS_TEAM_ID: 'T',
          CHAT_PUSH_APNS_TOPIC: 'com.example',
        },
        'k.p8',
        SECRET,
      ],
      [
        {
          CHAT_PUSH_VAPID_PUBLIC_KEY: 'x',
          CHAT_PUSH_VAPID_PRIVATE_KEY_FILE: join(dir, 'v.key'),
          CHAT_PUSH_VAPID_SUBJECT: 'mailto:ops@example.com',
        },
        'v.key',
        SECRET,
      ],
    ];
    for (const [env, file, content] of cases) {
      writeFileSync(join(dir, file), content);
      let message = '';
      try {
        devicePushProviders(config(env));
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/^CHAT_PUSH_(FCM_CREDENTIALS|APNS_KEY|VAPID_PRIVATE_KEY)_FILE: not a/);
      expect(message).not.toContain(SECRET);
    }
  });
});
