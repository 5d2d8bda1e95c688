/**
 * Parsers of command-line values, as commander argument parsers: each throws InvalidArgumentError,
 * which commander reports with the option's name and exits with the usage code.
 */

import { InvalidArgumentError } from 'commander';
import { OUTPUT_FORMATS } from './output.ts';

/** An integer from `min` to `max`. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`must be an integer from ${min} to ${max}, got "${value}"`);
    }
    return n;
  };
}

/** A number above 0 and at most `max`. */
export function positive(max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max) {
      throw new InvalidArgumentError(`must be a number above 0 and at most ${max}, got "${value}"`);
    }
    return n;
  };
}

/** An http(s) URL, without a trailing slash; `localhost:8080` is taken as `http://localhost:8080`. */
export function httpUrl(value: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new InvalidArgumentError(`must be a URL such as http://localhost:8080, got "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError(`must be an http:// or https:// URL, got "${value}"`);
  }
  return withScheme.replace(/\/+$/, '');
}

/** Collects a repeatable option (`--url a --url b`, also `--url a,b`) into a list of URLs. */
export function urlList(value: string, previous: string[] = []): string[] {
  const more = value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '')
    .map(httpUrl);
  return [...previous, ...more];
}

/** A Redis URL (`redis://` or `rediss://`). */
export function redisUrl(value: string): string {
  if (!/^rediss?:\/\/./.test(value)) {
    throw new InvalidArgumentError(`must be a redis:// or rediss:// URL, got "${value}"`);
  }
  return value;
}

/** A Kubernetes object name (DNS-1123 subdomain). */
export function kubeName(value: string): string {
  if (value.length > 253 || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(value)) {
    throw new InvalidArgumentError(
      `must be a Kubernetes name (lower-case letters, digits, '-' and '.'), got "${value}"`,
    );
  }
  return value;
}

/** One of `choices`. */
export function oneOf<const T extends string>(choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`must be one of ${choices.join(', ')}, got "${value}"`);
    }
    return value as T;
  };
}

export type { OutputFormat } from './output.ts';
/** `-o`: one of OUTPUT_FORMATS (output.ts). */
export const outputFormat = oneOf(OUTPUT_FORMATS);
