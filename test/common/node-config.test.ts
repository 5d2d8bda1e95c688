import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../common/config.ts';
import { loadNodeConfig } from '../../common/node-config.ts';

describe('chat node configuration', () => {
  it('has the defaults of the configuration contract', () => {
    const c = loadNodeConfig({ env: {} });
    expect(c).toMatchObject({
      host: '0.0.0.0',
      port: 8080,
      dataDir: './data',
      heartbeatMs: 10_000,
      cluster: 'default',
    });
    expect(c.natsUrl).toBeUndefined();
    expect(c.nodeId).toBeUndefined();
  });

  it('reads CHAT_* variables', () => {
    const c = loadNodeConfig({
      env: {
        CHAT_PORT: '9000',
        CHAT_NODE_ID: '7',
        CHAT_HEARTBEAT_MS: '250',
        CHAT_CASSANDRA_CONTACT_POINTS: 'a:9042, b',
        CHAT_NATS_URL: 'nats://127.0.0.1:4222',
        CHAT_JWT_SECRET: 's'.repeat(32),
      },
    });
    expect(c).toMatchObject({
      port: 9000,
      nodeId: 7,
      heartbeatMs: 250,
      cassandraContactPoints: ['a:9042', 'b'],
    });
  });

  it('lets flags win over the environment', () => {
    expect(loadNodeConfig({ env: { CHAT_PORT: '9000' }, flags: { port: '9001' } }).port).toBe(9001);
  });

  it('names the variable and the value when a value is invalid', () => {
    expect(() => loadNodeConfig({ env: { CHAT_PORT: 'eighty' } })).toThrow(/CHAT_PORT.*integer.*eighty/);
    expect(() => loadNodeConfig({ env: { CHAT_NODE_ID: '1024' } })).toThrow(/CHAT_NODE_ID.*0 to 1023/);
    expect(() => loadNodeConfig({ env: { CHAT_PUSH_WEBHOOK_URL: 'not a url' } })).toThrow(
      /CHAT_PUSH_WEBHOOK_URL.*URL/,
    );
    expect(() => loadNodeConfig({ env: { CHAT_LOG_LEVEL: 'loud' } })).toThrow(/CHAT_LOG_LEVEL.*one of/);
  });

  it('requires a shared JWT secret when real backends are configured', () => {
    expect(() => loadNodeConfig({ env: { CHAT_NATS_URL: 'nats://127.0.0.1:4222' } })).toThrow(ConfigError);
    expect(() => loadNodeConfig({ env: { CHAT_NATS_URL: 'nats://127.0.0.1:4222' } })).toThrow(
      /CHAT_JWT_SECRET/,
    );
  });

  it('refuses NATS without Cassandra and Cassandra without NATS, naming the missing variable', () => {
    const secret = { CHAT_JWT_SECRET: 's'.repeat(32) };
    expect(() => loadNodeConfig({ env: { ...secret, CHAT_NATS_URL: 'nats://127.0.0.1:4222' } })).toThrow(
      /^CHAT_CASSANDRA_CONTACT_POINTS: required when CHAT_NATS_URL is set/,
    );
    expect(() => loadNodeConfig({ env: { ...secret, CHAT_CASSANDRA_CONTACT_POINTS: 'a' } })).toThrow(
      /^CHAT_NATS_URL: required when CHAT_CASSANDRA_CONTACT_POINTS is set/,
    );
    expect(loadNodeConfig({ env: { ...secret, CHAT_REDIS_URL: 'redis://127.0.0.1:6379' } }).redisUrl).toBe(
      'redis://127.0.0.1:6379',
    );
  });

  it('refuses a JWT secret shorter than 32 characters', () => {
    expect(() => loadNodeConfig({ env: { CHAT_JWT_SECRET: 'short' } })).toThrow(/CHAT_JWT_SECRET.*32/);
  });
});
