/**
 * A small typed configuration schema: every key has a kind, a default and a doc string, and is read
 * from (highest first) command-line flags, `CHAT_*`-style environment variables, a JSON config file,
 * then its default. Validation happens once, at start-up, and every error names the key and where
 * its value came from.
 */
import { readFileSync } from 'node:fs';
import { errorMessage } from './errors.ts';

type Kind = 'string' | 'int' | 'bool' | 'list' | 'url' | 'urls';

export interface KeySpec<T> {
  kind: Kind;
  doc: string;
  /** The default, or undefined for an optional key with no default. */
  default: T | undefined;
  min?: number;
  max?: number;
  /** Allowed values for a string key. */
  choices?: readonly string[];
  /** Shown as `***` by printConfig. */
  secret?: boolean;
}

export type Spec = Record<string, KeySpec<unknown>>;
export type ConfigOf<S extends Spec> = {
  [K in keyof S]: S[K] extends KeySpec<infer T>
    ? S[K]['default'] extends undefined
      ? T | undefined
      : T
    : never;
};

export const str = (doc: string, def?: string, extra: Partial<KeySpec<string>> = {}): KeySpec<string> => ({
  kind: 'string',
  doc,
  default: def,
  ...extra,
});
export const url = (doc: string, def?: string): KeySpec<string> => ({ kind: 'url', doc, default: def });
/** One URL or several, comma-separated (the servers of one cluster); kept as written. */
export const urls = (doc: string, def?: string): KeySpec<string> => ({ kind: 'urls', doc, default: def });

/**
 * The URLs of a comma-separated list; an item without a scheme takes the first one's
 * (`redis+cluster://a:1,b:2`). Throws on an item that is no URL.
 */
export function splitUrls(value: string): URL[] {
  const items = value
    .split(',')
    .map((i) => i.trim())
    .filter((i) => i.length > 0);
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(items[0] ?? '')?.[0];
  return items.map((item) => {
    const full = /^[a-z][a-z0-9+.-]*:\/\//i.test(item) || !scheme ? item : scheme + item;
    if (!URL.canParse(full)) throw new TypeError(`not a URL: ${item}`);
    return new URL(full);
  });
}
export const int = (doc: string, def: number | undefined, min: number, max: number): KeySpec<number> => ({
  kind: 'int',
  doc,
  default: def,
  min,
  max,
});
export const bool = (doc: string, def: boolean): KeySpec<boolean> => ({ kind: 'bool', doc, default: def });
export const list = (doc: string, def?: string[]): KeySpec<string[]> => ({ kind: 'list', doc, default: def });

/** `cassandraLocalDc` → `CASSANDRA_LOCAL_DC`. */
export function constantCase(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}
/** `cassandraLocalDc` → `cassandra-local-dc`. */
export function kebabCase(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

interface Source {
  value: unknown;
  from: string;
}

type Fail = (what: string) => ConfigError;

function coerceInt(spec: KeySpec<unknown>, v: unknown, fail: Fail): number {
  const text = typeof v === 'string' ? v.trim() : undefined;
  const n =
    typeof v === 'number' ? v : text !== undefined && /^-?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw fail('must be an integer');
  if (n < (spec.min ?? Number.MIN_SAFE_INTEGER) || n > (spec.max ?? Number.MAX_SAFE_INTEGER)) {
    throw fail(`must be from ${spec.min} to ${spec.max}`);
  }
  return n;
}

function coerceBool(v: unknown, fail: Fail): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|1|yes|on)$/i.test(v)) return true;
  if (typeof v === 'string' && /^(false|0|no|off)$/i.test(v)) return false;
  throw fail('must be true or false');
}

function coerceList(v: unknown, fail: Fail): string[] {
  const items: unknown[] | undefined = Array.isArray(v)
    ? v
    : typeof v === 'string'
      ? v.split(',')
      : undefined;
  if (!items?.every((i): i is string => typeof i === 'string')) throw fail('must be a comma-separated list');
  return items.map((i) => i.trim()).filter((i) => i.length > 0);
}

function coerce(key: string, spec: KeySpec<unknown>, src: Source): unknown {
  const fail: Fail = (what) =>
    new ConfigError(`${key} (from ${src.from}): ${what}, got ${JSON.stringify(src.value)}`);
  const v = src.value;
  switch (spec.kind) {
    case 'int':
      return coerceInt(spec, v, fail);
    case 'bool':
      return coerceBool(v, fail);
    case 'list':
      return coerceList(v, fail);
    case 'url':
      if (typeof v !== 'string' || !URL.canParse(v)) throw fail('must be a URL');
      return v;
    case 'urls':
      if (typeof v !== 'string') throw fail('must be a URL or comma-separated URLs');
      try {
        if (splitUrls(v).length === 0) throw new TypeError('empty');
      } catch {
        throw fail('must be a URL or comma-separated URLs');
      }
      return v;
    default:
      if (typeof v !== 'string') throw fail('must be a string');
      if (spec.choices && !spec.choices.includes(v)) throw fail(`must be one of ${spec.choices.join(', ')}`);
      return v;
  }
}

export interface LoadOptions {
  /** Environment variables; only `<envPrefix><KEY>` names are read. */
  env?: Record<string, string | undefined>;
  envPrefix?: string;
  /** Values from command-line flags, by key. */
  flags?: Record<string, unknown>;
  /** A JSON file whose object keys are the config keys. */
  file?: string;
}

/** Reads, coerces and validates every key of `spec`. Throws ConfigError naming the first bad key. */
export function loadConfig<S extends Spec>(spec: S, options: LoadOptions): ConfigOf<S> {
  const prefix = options.envPrefix ?? 'CHAT_';
  let fileValues: Record<string, unknown> = {};
  if (options.file) {
    try {
      fileValues = JSON.parse(readFileSync(options.file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`config file ${options.file}: ${errorMessage(err)}`);
    }
    const unknown = Object.keys(fileValues).filter((k) => !(k in spec));
    if (unknown.length > 0)
      throw new ConfigError(`config file ${options.file}: unknown keys ${unknown.join(', ')}`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, keySpec] of Object.entries(spec)) {
    const envName = prefix + constantCase(key);
    const flag = options.flags?.[key];
    const env = options.env?.[envName];
    let src: Source | undefined;
    if (flag !== undefined) src = { value: flag, from: `--${kebabCase(key)}` };
    else if (env !== undefined && env !== '') src = { value: env, from: envName };
    else if (fileValues[key] !== undefined) src = { value: fileValues[key], from: `${options.file}:${key}` };
    out[key] = src ? coerce(envName, keySpec, src) : keySpec.default;
  }
  return out as ConfigOf<S>;
}

/** One line per key: variable, default and doc, for `--help` and the README. */
export function describeConfig(
  spec: Spec,
  envPrefix = 'CHAT_',
): { env: string; flag: string; default: string; doc: string }[] {
  return Object.entries(spec).map(([key, s]) => ({
    env: envPrefix + constantCase(key),
    flag: `--${kebabCase(key)}`,
    default:
      s.default === undefined ? '' : Array.isArray(s.default) ? s.default.join(',') : String(s.default),
    doc: s.doc,
  }));
}

/** The config as JSON with secrets masked. */
export function printableConfig(spec: Spec, config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(spec)) {
    out[key] = spec[key]?.secret && config[key] !== undefined ? '***' : config[key];
  }
  return out;
}
