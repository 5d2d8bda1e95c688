/** A small HTTP router: method + path pattern → handler, JSON in and out, errors as PROTOCOL.md says. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ChatError, isChatError, unavailableError } from '../../common/errors.ts';

export interface Request {
  req: IncomingMessage;
  url: URL;
  params: Record<string, string>;
  /** The client address (for per-address limits). */
  ip: string;
  /**
   * The parsed JSON body; `bad_request` if it is not JSON, `too_long` past the limit. With
   * `optional`, an empty body is undefined instead of an error.
   */
  json(options?: { optional?: boolean }): Promise<unknown>;
}

export interface Reply {
  status: number;
  body?: unknown;
  /** Sent as is (e.g. Prometheus text) instead of JSON. */
  text?: string;
  contentType?: string;
  /** Called once the answer is written out or its connection is gone (releases what it held). */
  onDone?: () => void;
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
/** Answers are written in pieces of this size, each after the socket took the previous ones. */
const PIECE_BYTES = 64 * 1024;
/** A client that reads none of an answer for this long loses its connection (and what it held). */
export const WRITE_STALL_MS = 30_000;

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

  /** Every method some route answers (for CORS preflights). */
  methods(): string[] {
    return [...new Set(this.routes.map((r) => r.method))];
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
        json: (options) => readJson(req, options?.optional ?? false),
      });
    } catch (err) {
      reply = errorReply(err);
      if (reply.status === 500) console.error(err);
    }
    if (reply.onDone) {
      res.once('close', reply.onDone);
      res.once('finish', reply.onDone);
    }
    await send(res, reply);
    // A response whose connection was already gone emits neither event again.
    if (res.destroyed) reply.onDone?.();
    const code = (reply.body as { error?: { code?: string } } | undefined)?.error?.code;
    return { route: name, status: reply.status, code };
  }
}

export function errorReply(thrown: unknown): Reply {
  const err = unavailableError(thrown) ?? thrown;
  if (isChatError(err))
    return { status: err.status, body: { error: { code: err.code, message: err.message } } };
  if (err instanceof URIError)
    return { status: 400, body: { error: { code: 'bad_request', message: 'malformed URL escape' } } };
  return { status: 500, body: { error: { code: 'internal', message: 'internal error' } } };
}

async function send(res: ServerResponse, reply: Reply): Promise<void> {
  if (res.headersSent) {
    reply.onDone?.();
    return;
  }
  if (reply.text !== undefined) {
    res.writeHead(reply.status, { 'content-type': reply.contentType ?? 'text/plain; charset=utf-8' });
    res.end(reply.text);
  } else if (reply.body === undefined) {
    res.writeHead(reply.status);
    res.end();
  } else {
    const data = JSON.stringify(reply.body);
    const bytes = Buffer.byteLength(data);
    res.writeHead(reply.status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': bytes,
    });
    if (bytes <= PIECE_BYTES) res.end(data);
    else await writeInPieces(res, Buffer.from(data));
  }
}

/**
 * Writes a large answer with backpressure: the next piece once the socket has taken the previous
 * ones, so the socket's buffer stays at a piece or two; a reader that stalls for WRITE_STALL_MS is
 * cut.
 */
async function writeInPieces(res: ServerResponse, data: Buffer): Promise<void> {
  for (let i = 0; i < data.length; i += PIECE_BYTES) {
    if (res.destroyed) return;
    if (!res.write(data.subarray(i, i + PIECE_BYTES)) && !(await drained(res))) {
      res.destroy();
      return;
    }
  }
  res.end();
}

/** True once the response drains; false if it closes or stalls first. */
function drained(res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => done(false), WRITE_STALL_MS);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

async function readJson(req: IncomingMessage, optional: boolean): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new ChatError('too_long', 'request body is over 2 MiB');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ChatError('too_long', 'request body is over 2 MiB');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) {
    if (optional) return undefined;
    throw new ChatError('bad_request', 'request body must be a JSON object');
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ChatError('bad_request', 'request body is not valid JSON');
  }
}
