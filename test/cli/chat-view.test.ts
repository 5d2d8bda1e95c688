import { describe, expect, it } from 'vitest';
import {
  conversationArg,
  conversationOf,
  describeTarget,
  formatMessage,
  formatTime,
  parseChatLine,
  targetOf,
} from '../../cli/chat-view.ts';
import { UsageError } from '../../cli/errors.ts';

describe('parseChatLine', () => {
  const table: [string, ReturnType<typeof parseChatLine>][] = [
    ['hello there', { kind: 'send', text: 'hello there' }],
    ['  indented  ', { kind: 'send', text: '  indented  ' }],
    ['crlf\r', { kind: 'send', text: 'crlf' }],
    ['   ', { kind: 'empty' }],
    ['/to u_bob', { kind: 'to', userId: 'u_bob' }],
    ['/group g1', { kind: 'group', groupId: 'g1' }],
    ['/to', { kind: 'unknown', command: 'to needs one user id' }],
    ['/to a b', { kind: 'unknown', command: 'to needs one user id' }],
    ['/history', { kind: 'history' }],
    ['/quit', { kind: 'quit' }],
    ['/exit', { kind: 'quit' }],
    ['/help', { kind: 'help' }],
    ['/dance', { kind: 'unknown', command: 'dance' }],
    ['//not a command', { kind: 'send', text: '/not a command' }],
  ];
  for (const [line, parsed] of table) {
    it(`reads ${JSON.stringify(line)} as ${parsed.kind}`, () => expect(parseChatLine(line)).toEqual(parsed));
  }
});

describe('targets and conversations', () => {
  it('takes exactly one of --to and --group', () => {
    expect(targetOf({ to: 'u1' })).toEqual({ to: 'u1' });
    expect(targetOf({ group: 'g1' })).toEqual({ group: 'g1' });
    expect(targetOf({}, true)).toBeUndefined();
    expect(() => targetOf({})).toThrow(UsageError);
    expect(() => targetOf({ to: 'u', group: 'g' })).toThrow('not both');
  });

  it('names the conversation of a target as the node does', () => {
    expect(conversationOf({ to: 'b' }, 'a')).toBe('dm:a:b');
    expect(conversationOf({ to: 'a' }, 'b')).toBe('dm:a:b');
    expect(conversationOf({ group: 'g1' }, 'a')).toBe('g:g1');
    expect(describeTarget({ group: 'g1' })).toBe('group g1');
  });

  it('reads history arguments: ids as send prints them, @user and #group', () => {
    expect(conversationArg('dm:a:b', 'a')).toBe('dm:a:b');
    expect(conversationArg('g:team', 'a')).toBe('g:team');
    expect(conversationArg('@zed', 'me')).toBe('dm:me:zed');
    expect(conversationArg('#team', 'me')).toBe('g:team');
    expect(() => conversationArg('bob', 'me')).toThrow('is not a conversation');
    expect(() => conversationArg('dm:b:a', 'me')).toThrow(UsageError);
  });
});

describe('formatMessage', () => {
  const ts = Date.parse('2025-01-02T10:11:12.345Z');

  it('prints time (UTC), where and who, with "me" for the own user', () => {
    expect(formatTime(ts)).toBe('2025-01-02 10:11:12');
    const base = { messageId: '1', conversation: 'dm:a:b', ts, text: 'hi' };
    expect(formatMessage({ ...base, from: 'b', to: 'a' }, 'a')).toBe('2025-01-02 10:11:12  b: hi');
    expect(formatMessage({ ...base, from: 'a', to: 'b' }, 'a')).toBe('2025-01-02 10:11:12  → b me: hi');
    expect(formatMessage({ ...base, conversation: 'g:g1', from: 'b', group: 'g1' }, 'a')).toBe(
      '2025-01-02 10:11:12  [#g1] b: hi',
    );
  });

  it('indents the continuation lines of a multi-line message', () => {
    const m = { messageId: '1', conversation: 'g:g', group: 'g', from: 'b', ts, text: 'one\ntwo' };
    expect(formatMessage(m, 'a')).toBe('2025-01-02 10:11:12  [#g] b: one\n    two');
  });
});
