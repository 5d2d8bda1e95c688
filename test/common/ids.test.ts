import { describe, expect, it } from 'vitest';
import { dmConversationId, isOpaqueId, parseConversationId, parseMessageId } from '../../common/ids.ts';

describe('ids', () => {
  it('sorts the two users of a dm conversation id', () => {
    expect(dmConversationId('bob', 'alice')).toBe('dm:alice:bob');
    expect(dmConversationId('alice', 'bob')).toBe('dm:alice:bob');
  });

  it('parses conversation ids and refuses malformed ones', () => {
    expect(parseConversationId('dm:a:b')).toEqual({ kind: 'dm', a: 'a', b: 'b' });
    expect(parseConversationId('g:team')).toEqual({ kind: 'group', groupId: 'team' });
    for (const bad of ['dm:b:a', 'dm:a', 'dm:a:b:c', 'g:', 'x:a', 'g:a b'])
      expect(parseConversationId(bad)).toBeUndefined();
  });

  it('accepts opaque ids of at most 64 characters of [A-Za-z0-9_.-]', () => {
    expect(isOpaqueId('a'.repeat(64))).toBe(true);
    expect(isOpaqueId('a'.repeat(65))).toBe(false);
    expect(isOpaqueId('a:b')).toBe(false);
    expect(isOpaqueId('')).toBe(false);
  });

  it('parses decimal message ids into bigints and names the field when it cannot', () => {
    expect(parseMessageId('18446744073709551615', 'since')).toBe(18446744073709551615n);
    expect(() => parseMessageId('18446744073709551616', 'since')).toThrow(/since/);
    expect(() => parseMessageId('-1', 'upTo')).toThrow(/upTo/);
    expect(() => parseMessageId(5, 'since')).toThrow(/since/);
  });
});
