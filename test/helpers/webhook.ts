/**
 * A real push webhook receiver for tests: a node:http server on 127.0.0.1 and an ephemeral port
 * that records every request and answers as the test says (a status code, or never).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WebhookRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  /** The parsed JSON body (the raw text when it is not JSON). */
  body: any;
  /** The status answered, or undefined while the request is unanswered. */
  answered?: number;
  /** True once the connection of this request closed (answered or aborted by the sender). */
  closed: boolean;
}

/** What to answer to one request: a status code, or 'hang' to never answer. */
export type Answer = number | 'hang';

export class WebhookReceiver {
  readonly requests: WebhookRequest[] = [];
  /** Decides the answer to each request; default 200. Tests replace it. */
  answer: (body: any, request: WebhookRequest) => Answer = () => 200;
  private readonly server: Server;
  private readonly hanging = new Set<ServerResponse>();
  private waiters: (() => void)[] = [];

  private constructor(server: Server) {
    this.server = server;
  }

  static async start(): Promise<WebhookReceiver> {
    const server = createServer();
    const r = new WebhookReceiver(server);
    server.on('request', (req, res) => r.onRequest(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return r;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/push`;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {}
      const record: WebhookRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        contentType: req.headers['content-type'],
        body,
        closed: false,
      };
      res.on('close', () => {
        record.closed = true;
        this.hanging.delete(res);
        this.wake();
      });
      this.requests.push(record);
      const answer = this.answer(body, record);
      if (answer === 'hang') {
        this.hanging.add(res);
      } else {
        record.answered = answer;
        res.writeHead(answer, { 'content-type': 'text/plain' });
        res.end(answer < 300 ? 'ok' : 'failed');
      }
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Requests whose body matches. */
  matching(match: (body: any) => boolean): WebhookRequest[] {
    return this.requests.filter((r) => match(r.body));
  }

  /** Waits until at least `count` requests match (failing after `timeoutMs` with what was seen). */
  async waitFor(match: (body: any) => boolean, count = 1, timeoutMs = 10_000): Promise<WebhookRequest[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.matching(match);
      if (found.length >= count) return found;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `timed out waiting for ${count} webhook request(s); saw ${JSON.stringify(this.requests.map((r) => r.body))}`,
        );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Stops the server, cutting requests left hanging. */
  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
