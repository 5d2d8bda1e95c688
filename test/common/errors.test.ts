/**
 * Backend outages answer `unavailable`, bugs `internal`: the drivers' own error classes, thrown as
 * they throw them, are told apart by unavailableError.
 */
import {
  ClosedConnectionError,
  TimeoutError as NatsTimeout,
  NoRespondersError,
} from '@nats-io/transport-node';
import cassandra from 'cassandra-driver';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { errorReply } from '../../chat-node/http/router.ts';
import { unavailableError } from '../../common/errors.ts';

const { errors } = cassandra;

describe('unavailableError', () => {
  it('takes the drivers’ outage errors for unavailable', () => {
    const outages: Error[] = [
      new errors.NoHostAvailableError({}, 'All host(s) tried for query failed'),
      new errors.OperationTimedOutError('The host 127.0.0.1:19042 did not reply before timeout 12000 ms'),
      new errors.ResponseError(0x1000, 'Cannot achieve consistency level QUORUM'),
      new errors.ResponseError(0x1200, 'Operation timed out - received only 0 responses'),
      new NatsTimeout(),
      new ClosedConnectionError(),
      new NoRespondersError('chat.1'),
    ];
    for (const err of outages) {
      const mapped = unavailableError(err);
      expect(mapped?.code, err.name).toBe('unavailable');
      expect(mapped?.status).toBe(503);
      expect(errorReply(err).status).toBe(503);
    }
  });

  it('takes a command that ioredis gave up on for unavailable', async () => {
    // Nothing listens on port 1: the command fails once its retries are spent.
    const redis = new Redis({ host: '127.0.0.1', port: 1, maxRetriesPerRequest: 1, retryStrategy: () => 20 });
    redis.on('error', () => {});
    const err = await redis.get('k').catch((e: unknown) => e);
    redis.disconnect();
    expect((err as Error).name).toBe('MaxRetriesPerRequestError');
    expect(unavailableError(err)?.code).toBe('unavailable');
  });

  it('leaves everything else to be a bug (internal, 500)', () => {
    const bugs: unknown[] = [
      new errors.ResponseError(0x2000, 'line 1:7 no viable alternative at input'),
      new errors.ArgumentError('Invalid argument'),
      new TypeError("Cannot read properties of undefined (reading 'id')"),
      'a string',
      undefined,
    ];
    for (const err of bugs) {
      expect(unavailableError(err)).toBeUndefined();
      expect(errorReply(err).status).toBe(500);
    }
  });
});
