/**
 * The web app's files over real HTTP: content types, `/` as index.html, ETags, HEAD, and every way
 * out of the folder refused (`..` raw and encoded, symlinks, dotfiles, unlisted types, large files).
 * The folder is a temporary one here; test/web/ serves the real app from a node.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isApiPath, MAX_FILE_BYTES, StaticFiles } from '../../chat-node/http/static-files.ts';

/** Sends `target` exactly as written (fetch would normalize it) and returns the status line's code. */
function rawGet(port: number, target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () =>
      s.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`),
    );
    let data = '';
    s.on('data', (d) => {
      data += d.toString('latin1');
    });
    s.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
    s.on('error', reject);
  });
}

describe('static files', () => {
  let dir: string;
  let server: Server;
  let base: string;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'static-test-'));
    const root = join(dir, 'site');
    mkdirSync(join(root, 'sub'), { recursive: true });
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>app</title>');
    writeFileSync(join(root, 'app.js'), 'export const x = 1;\n');
    writeFileSync(join(root, 'app.css'), 'body{}');
    writeFileSync(join(root, 'sub', 'icon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    writeFileSync(join(root, 'app.ts'), 'const secret: string = "source";');
    writeFileSync(join(root, '.env'), 'SECRET=1');
    writeFileSync(join(root, 'big.js'), Buffer.alloc(MAX_FILE_BYTES + 1, 32));
    writeFileSync(join(dir, 'outside.js'), 'outside');
    symlinkSync(join(dir, 'outside.js'), join(root, 'link.js'));
    const files = new StaticFiles(root);
    server = createServer((req, res) => {
      if (files.handles(req)) void files.serve(req, res);
      else {
        res.writeHead(418);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves / as index.html and each file with its content type', async () => {
    for (const [path, type, body] of [
      ['/', 'text/html; charset=utf-8', '<!doctype html><title>app</title>'],
      ['/index.html', 'text/html; charset=utf-8', '<!doctype html><title>app</title>'],
      ['/app.js', 'text/javascript; charset=utf-8', 'export const x = 1;\n'],
      ['/app.css?v=2', 'text/css; charset=utf-8', 'body{}'],
      ['/sub/icon.svg', 'image/svg+xml', '<svg xmlns="http://www.w3.org/2000/svg"/>'],
    ] as const) {
      const res = await fetch(base + path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe(type);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await res.text(), path).toBe(body);
    }
  });

  it('answers HEAD without a body and a matching If-None-Match with 304', async () => {
    const head = await fetch(`${base}/app.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('20');
    const etag = head.headers.get('etag')!;
    expect(etag).toMatch(/^".+"$/);
    const again = await fetch(`${base}/app.js`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
  });

  it('refuses paths out of the folder, dotfiles, unlisted types, symlinks out and large files with 404', async () => {
    for (const path of [
      '/../outside.js',
      '/sub/../../outside.js',
      '/%2e%2e/outside.js',
      '/..%2foutside.js',
      '/sub%2f..%2f..%2foutside.js',
      '/..%5coutside.js',
      '/app.js%00.html',
      '/.env',
      '/app.ts',
      '/link.js',
      '/big.js',
      '/sub',
      '/missing.js',
      `/${'a'.repeat(600)}.js`,
      '/%E0%A4%A.js',
    ]) {
      expect(await rawGet(port, path), path).toBe(404);
    }
  });

  it('leaves the API and probes to the router, and every method but GET and HEAD', async () => {
    for (const path of ['/v1/users/me', '/v1', '/admin/v1/load', '/healthz', '/readyz', '/metrics']) {
      expect(isApiPath(path), path).toBe(true);
      expect((await fetch(base + path)).status, path).toBe(418);
    }
    expect((await fetch(`${base}/app.js`, { method: 'POST' })).status).toBe(418);
    expect(isApiPath('/v1x')).toBe(false);
  });
});
