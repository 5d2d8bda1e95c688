/**
 * The web app's files (web/, built into web/dist by `npm run web:build`: WEB_ROOT), served at `/` for GET and
 * HEAD: `/` is index.html, other paths name files under the folder. A path that leaves the folder
 * (`..`, encoded or not, a symlink out), names a dotfile, a type not listed below or a file over
 * MAX_FILE_BYTES answers 404; API paths (`/v1/…`, `/admin/…`) never come here.
 */
import { createReadStream, existsSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';

/** The built web app (web/build.ts writes it). */
export const WEB_ROOT = join(import.meta.dirname, '..', '..', 'web', 'dist');

/** The files served, by extension. Anything else (sources, maps of other tools…) is not. */
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};
/** Larger files are not served (the app's bundle is well under it). */
export const MAX_FILE_BYTES = 8 * 1024 * 1024;
/** Longest request path looked at. */
const MAX_PATH = 512;

/** Paths of the HTTP API and probes: the router's, never a file. */
export function isApiPath(pathname: string): boolean {
  return (
    pathname.startsWith('/v1/') ||
    pathname === '/v1' ||
    pathname.startsWith('/admin/') ||
    pathname === '/healthz' ||
    pathname === '/readyz' ||
    pathname === '/metrics'
  );
}

export class StaticFiles {
  /** The folder, resolved (symlinks too) once it exists. */
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** False when the folder is missing or has no index.html (the app was not built or shipped). */
  get available(): boolean {
    return existsSync(join(this.root, 'index.html'));
  }

  /** True for the requests this serves: GET or HEAD outside the API's paths. */
  handles(req: IncomingMessage): boolean {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    return !isApiPath(pathOf(req.url));
  }

  /** Answers the request; resolves with the status sent. */
  async serve(req: IncomingMessage, res: ServerResponse): Promise<number> {
    const file = await this.find(pathOf(req.url));
    if (!file) return notFound(res);
    const headers = {
      'content-type': file.type,
      // Small files that change with each build: revalidated every time, by their ETag.
      'cache-control': 'no-cache',
      etag: file.etag,
      'x-content-type-options': 'nosniff',
    };
    if (req.headers['if-none-match'] === file.etag) {
      res.writeHead(304, headers);
      res.end();
      return 304;
    }
    res.writeHead(200, { ...headers, 'content-length': file.size });
    if (req.method === 'HEAD') {
      res.end();
      return 200;
    }
    await new Promise<void>((done) => {
      const stream = createReadStream(file.path);
      stream.on('error', () => {
        res.destroy();
        done();
      });
      res.on('close', () => {
        stream.destroy();
        done();
      });
      stream.pipe(res);
    });
    return 200;
  }

  /** The file a path names, when it is one this serves. */
  private async find(
    pathname: string,
  ): Promise<{ path: string; type: string; size: number; etag: string } | undefined> {
    if (pathname.length > MAX_PATH) return undefined;
    let decoded: string;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      return undefined;
    }
    if (decoded === '/' || decoded === '') decoded = '/index.html';
    const parts = decoded.split('/').filter((p) => p !== '');
    // No `..`, no dotfiles, no backslashes or NULs that another layer might read differently.
    if (parts.some((p) => p.startsWith('.') || p.includes('\\') || p.includes('\0'))) return undefined;
    const type = TYPES[extname(decoded).toLowerCase()];
    if (!type) return undefined;
    try {
      const root = await realpath(this.root);
      const path = await realpath(join(root, ...parts));
      if (!path.startsWith(root + sep)) return undefined;
      const s = await stat(path);
      if (!s.isFile() || s.size > MAX_FILE_BYTES) return undefined;
      return {
        path,
        type,
        size: s.size,
        etag: `"${s.size.toString(36)}-${Math.floor(s.mtimeMs).toString(36)}"`,
      };
    } catch {
      return undefined;
    }
  }
}

/** The request's path, still percent-encoded (`..` segments resolved, so it stays under `/`). */
function pathOf(url: string | undefined): string {
  try {
    return new URL(url ?? '/', 'http://localhost').pathname;
  } catch {
    return '/';
  }
}

function notFound(res: ServerResponse): number {
  const body = JSON.stringify({ error: { code: 'not_found', message: 'no such file' } });
  res.writeHead(404, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
  return 404;
}
