import { describe, expect, it } from 'vitest';
import { handshakeStatus, socketUrl } from '../../client/socket.ts';

describe('socketUrl', () => {
  it.each([
    ['http://node-1:8080', 'ws://node-1:8080/v1/ws'],
    ['https://chat.example.com/', 'wss://chat.example.com/v1/ws'],
    ['https://chat.example.com/eu', 'wss://chat.example.com/eu/v1/ws'],
    ['wss://chat.example.com/v1/ws', 'wss://chat.example.com/v1/ws'],
    ['ws://node-2:8080', 'ws://node-2:8080/v1/ws'],
  ])('turns %s into %s', (url, expected) => {
    expect(socketUrl(url)).toBe(expected);
  });

  it('puts the token in the query when asked to', () => {
    expect(socketUrl('http://n:1', 'a b')).toBe('ws://n:1/v1/ws?token=a+b');
  });

  it('refuses a URL of another scheme', () => {
    expect(() => socketUrl('ftp://n')).toThrow(/not an http/);
  });
});

describe('handshakeStatus', () => {
  it('reads the status of a refused handshake from the error of ws', () => {
    expect(handshakeStatus(new Error('Unexpected server response: 401'))).toBe(401);
    expect(handshakeStatus(new Error('connect ECONNREFUSED'))).toBeUndefined();
  });
});
