/** A small HTTP router: method + path pattern → handler, JSON in and out, errors as PROTOCOL.md says. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ChatError, isChatError } from '../../common/errors.ts';

export interface Request {
  req: IncomingMessage;
  url: URL;
  params: Record<string, string>;
  /** The client address (for per-address limits). */
  ip: string;
  /** The parsed JSON body; `bad_request` if it is not JSON, `too_long` past the limit. */
  json(): Promise<unknown>;
}

export interface Reply {
  status: number;
  body?: unknown;
  /** Sent as is (e.g. Prometheus text) instead of JSON. */
  text?: string;
  contentType?: string;
}

export type Handler = (r: Request) => Promise<Reply>;

interface Route {
  method: string;
  name: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
}

/** Largest request body read. */
export const MAX_BODY_BYTES = 2 * 1024 * 1024 + 64 * 1024;

export class Router {
  private readonly routes: Route[] = [];

  /** `path` uses `:name` segments, e.g. `/v1/groups/:id/members`. */
  on(method: string, path: string, handler: Handler): this {
    const keys: string[] = [];
    const pattern = new RegExp(
      `^${path.replace(/:([a-zA-Z]+)/g, (_, k: string) => {
        keys.push(k);
        return '([^/]+)';
      })}$`,
    );
    this.routes.push({ method, name: path, pattern, keys, handler });
    return this;
  }

  /** Finds the route; `undefined` name for no match. */
  match(method: string, path: string): { route?: Route; params: Record<string, string>; allowed: boolean } {
    let pathMatched = false;
    for (const route of this.routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      const params: Record<string, string> = {};
      route.keys.forEach((k, i) => {
        params[k] = decodeURIComponent(m[i + 1]!);
      });
      return { route, params, allowed: true };
    }
    return { params: {}, allowed: !pathMatched };
  }

  /** Serves one request; returns the route name for metrics. */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<{ route: string; status: number; code?: string }> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    let reply: Reply;
    let name = 'unmatched';
    try {
      const { route, params, allowed } = this.match(req.method ?? 'GET', url.pathname);
      if (!route) {
        throw allowed
          ? new ChatError('not_found', `no route for ${req.method} ${url.pathname}`)
          : new ChatError('bad_request', `method ${req.method} is not allowed on ${url.pathname}`, {
              status: 405,
            });
      }
      name = route.name;
      reply = await route.handler({
        req,
        url,
        params,
        ip: req.socket.remoteAddress ?? 'unknown',
        json: () => readJson(req),
      });
    } catch (err) {
      reply = errorReply(err);
      if (reply.status === 500) console.error(err);
    }
    send(res, reply);
    const code = (reply.body as { error?: { code?: string } } | undefined)?.error?.code;
    return { route: name, status: reply.status, code };
  }
}

export function errorReply(err: unknown): Reply {
  if (isChatError(err))
    return { status: err.status, body: { error: { code: err.code, message: err.message } } };
  if (err instanceof URIError)
    return { status: 400, body: { error: { code: 'bad_request', message: 'malformed URL escape' } } };
  return { status: 500, body: { error: { code: 'internal', message: 'internal error' } } };
}

function send(res: ServerResponse, reply: Reply): void {
  if (res.headersSent) return;
  if (reply.text !== undefined) {
    res.writeHead(reply.status, { 'content-type': reply.contentType ?? 'text/plain; charset=utf-8' });
    res.end(reply.text);
  } else if (reply.body === undefined) {
    res.writeHead(reply.status);
    res.end();
  } else {
    const data = JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(data),
    });
    res.end(data);
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new ChatError('too_long', 'request body is over 2 MiB');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ChatError('too_long', 'request body is over 2 MiB');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) throw new ChatError('bad_request', 'request body must be a JSON object');
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ChatError('bad_request', 'request body is not valid JSON');
  }
}
