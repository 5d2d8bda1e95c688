/** Message text rules of PROTOCOL.md: 1 to 100,000 Unicode code points of well-formed UTF-16/UTF-8. */
import { ChatError } from './errors.ts';

export const MAX_TEXT_CODE_POINTS = 100_000;

/** Counts code points, stopping early once `stopAfter` is passed. */
export function countCodePoints(text: string, stopAfter = Number.POSITIVE_INFINITY): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A high surrogate followed by a low surrogate is one code point.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    if (++count > stopAfter) return count;
  }
  return count;
}

/** Throws the protocol's error for a text that is missing, empty, too long or not well-formed. */
export function validateText(text: unknown, max = MAX_TEXT_CODE_POINTS): string {
  if (text === undefined || text === null || text === '')
    throw new ChatError('empty', 'text is missing or empty');
  if (typeof text !== 'string') throw new ChatError('bad_request', 'text must be a string');
  // UTF-16 length bounds the code point count from both sides: skip the count when it cannot matter.
  if (text.length > max * 2 || (text.length > max && countCodePoints(text, max) > max)) {
    throw new ChatError('too_long', `text is longer than ${max} characters`);
  }
  if (!text.isWellFormed())
    throw new ChatError('bad_request', 'text is not well-formed Unicode (lone surrogate)');
  return text;
}

/** The first `n` code points of `text`, for push previews. */
export function preview(text: string, n = 100): string {
  let out = '';
  let count = 0;
  for (const cp of text) {
    if (count++ === n) break;
    out += cp;
  }
  return out;
}
