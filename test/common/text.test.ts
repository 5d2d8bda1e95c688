import { describe, expect, it } from 'vitest';
import type { ChatError } from '../../common/errors.ts';
import { countCodePoints, preview, validateText } from '../../common/text.ts';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as ChatError).code;
  }
  return 'ok';
};

describe('message text', () => {
  it('counts code points, not UTF-16 units', () => {
    expect(countCodePoints('a😀b')).toBe(3);
    expect(countCodePoints('😀'.repeat(10))).toBe(10);
  });

  it('accepts 100,000 emoji and 100,000 ASCII characters', () => {
    expect(code(() => validateText('😀'.repeat(100_000)))).toBe('ok');
    expect(code(() => validateText('x'.repeat(100_000)))).toBe('ok');
  });

  it('refuses 100,001 characters with too_long', () => {
    expect(code(() => validateText('x'.repeat(100_001)))).toBe('too_long');
    expect(code(() => validateText(`${'😀'.repeat(100_000)}x`))).toBe('too_long');
  });

  it('refuses missing or empty text with empty, and other types with bad_request', () => {
    expect(code(() => validateText(''))).toBe('empty');
    expect(code(() => validateText(undefined))).toBe('empty');
    expect(code(() => validateText(42))).toBe('bad_request');
  });

  it('refuses a lone surrogate', () => {
    expect(code(() => validateText('a\ud800b'))).toBe('bad_request');
  });

  it('previews the first 100 code points', () => {
    expect(preview('😀'.repeat(150))).toBe('😀'.repeat(100));
    expect(preview('short')).toBe('short');
  });
});
