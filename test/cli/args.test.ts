import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { httpUrl, integer, kubeName, outputFormat, positive, redisUrl, urlList } from '../../cli/args.ts';

describe('argument parsers', () => {
  it('integer accepts whole numbers within bounds and refuses the rest with the bounds', () => {
    const replicas = integer(0, 10);
    expect(replicas('3')).toBe(3);
    expect(replicas('0')).toBe(0);
    for (const bad of ['', ' ', '-1', '11', '2.5', 'x', '1e9']) {
      expect(() => replicas(bad)).toThrow(InvalidArgumentError);
    }
    expect(() => replicas('x')).toThrow('must be an integer from 0 to 10, got "x"');
  });

  it('positive refuses zero, negatives and non-numbers', () => {
    expect(positive()('0.5')).toBe(0.5);
    for (const bad of ['0', '-3', 'abc', '']) expect(() => positive()(bad)).toThrow(InvalidArgumentError);
  });

  it('httpUrl adds http:// to host:port and drops a trailing slash', () => {
    expect(httpUrl('localhost:8080')).toBe('http://localhost:8080');
    expect(httpUrl('https://chat.example.com/')).toBe('https://chat.example.com');
    expect(() => httpUrl('ftp://x')).toThrow('must be an http:// or https:// URL');
    expect(() => httpUrl('http://')).toThrow('must be a URL');
  });

  it('urlList collects repeated and comma-separated URLs', () => {
    const first = urlList('http://a:1,b:2', []);
    expect(urlList('http://c:3', first)).toEqual(['http://a:1', 'http://b:2', 'http://c:3']);
  });

  it('redisUrl wants redis:// or rediss://', () => {
    expect(redisUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(() => redisUrl('127.0.0.1:6379')).toThrow('must be a redis:// or rediss:// URL');
  });

  it('kubeName accepts DNS names and refuses upper case and underscores', () => {
    expect(kubeName('chat-prod.eu')).toBe('chat-prod.eu');
    for (const bad of ['Chat', 'chat_prod', '-chat', ''])
      expect(() => kubeName(bad)).toThrow(InvalidArgumentError);
  });

  it('outputFormat names the formats it accepts', () => {
    expect(outputFormat('json')).toBe('json');
    expect(outputFormat('name')).toBe('name');
    expect(() => outputFormat('xml')).toThrow('must be one of table, wide, json, yaml, name, got "xml"');
  });
});
