/**
 * Cross-origin requests (PROTOCOL.md "Browsers"): a request whose `Origin` is one of
 * CHAT_CORS_ORIGINS (or any, with `*`) gets `Access-Control-Allow-Origin`; its preflight (`OPTIONS`,
 * answered 204) also gets the methods of the API and the headers a client sends (`Authorization`,
 * `Content-Type`). Any other origin gets no `Access-Control-*` header at all, and the browser keeps
 * the answer from its page. The token travels in a header, never a cookie, so no credentials mode.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** How long a browser may cache a preflight's answer, in seconds. */
const PREFLIGHT_MAX_AGE_S = 600;
const ALLOWED_HEADERS = 'Authorization, Content-Type';

export class Cors {
  private readonly any: boolean;
  private readonly origins: ReadonlySet<string>;
  private readonly methods: string;

  /** `origins`: as CHAT_CORS_ORIGINS lists them (`*` for any); `methods`: every method of the API. */
  constructor(origins: readonly string[], methods: readonly string[]) {
    this.any = origins.includes('*');
    this.origins = new Set(origins.filter((o) => o !== '*').map(normalizeOrigin));
    this.methods = [...new Set(methods.map((m) => m.toUpperCase()))].sort().join(', ');
  }

  /**
   * Sets the CORS headers the request's origin gets; answers a preflight (any `OPTIONS`) with 204.
   * True when the request was answered here.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = req.headers.origin;
    const allowed = this.allowed(origin);
    if (this.origins.size > 0 && !this.any) res.setHeader('Vary', 'Origin');
    if (allowed) res.setHeader('Access-Control-Allow-Origin', this.any ? '*' : origin!);
    if (req.method !== 'OPTIONS') return false;
    if (allowed) {
      res.setHeader('Access-Control-Allow-Methods', this.methods);
      res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS);
      res.setHeader('Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE_S));
    }
    res.setHeader('Allow', `${this.methods}, OPTIONS`);
    res.writeHead(204);
    res.end();
    return true;
  }

  private allowed(origin: string | undefined): boolean {
    if (origin === undefined || origin === '') return false;
    return this.any || this.origins.has(normalizeOrigin(origin));
  }
}

/** `HTTPS://Example.com:443/` → `https://example.com`; anything but an http(s) URL stays as written. */
export function normalizeOrigin(origin: string): string {
  if (!URL.canParse(origin)) return origin;
  const u = new URL(origin);
  return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : origin;
}
