/**
 * Local stand-ins for the push services, on 127.0.0.1 with a self-signed certificate: they record
 * every request as it arrived and answer as the test says. They check nothing themselves: the tests
 * check what was recorded against each service's documentation.
 * - FCM: Google's OAuth2 token endpoint (`POST /token`, answering `access-<n>`) and the HTTP v1 API;
 * - APNs: an HTTP/2 server;
 * - Web Push: a push service's endpoint (any path).
 */
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TestCert } from './tls.ts';

export interface Recorded {
  httpVersion: string;
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface Answer {
  status: number;
  body?: unknown;
}

export interface StandIn {
  origin: string;
  readonly seen: Recorded[];
  /** Answers for the next requests, in order (then `fallback`). */
  answers: Answer[];
  fallback: Answer;
  /** Resolves once `n` requests (not counting token grants) have been recorded. */
  received(n: number, timeoutMs?: number): Promise<Recorded[]>;
  close(): Promise<void>;
}

type Server = https.Server | http2.Http2SecureServer;

async function standIn(
  make: (
    onRequest: (req: http2.Http2ServerRequest | import('node:http').IncomingMessage, res: any) => void,
  ) => Server,
  fallback: Answer,
  isGrant: (r: Recorded) => boolean = () => false,
): Promise<StandIn> {
  const seen: Recorded[] = [];
  let waiters: (() => void)[] = [];
  let grants = 0;
  const s: Partial<StandIn> & { answers: Answer[]; fallback: Answer } = { answers: [], fallback };
  const server = make((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Recorded = {
        httpVersion: req.httpVersion,
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers as Recorded['headers'],
        body: Buffer.concat(chunks),
      };
      seen.push(r);
      let a: Answer;
      if (isGrant(r)) {
        grants++;
        a = {
          status: 200,
          body: { access_token: `access-${grants}`, expires_in: 3599, token_type: 'Bearer' },
        };
      } else {
        a = s.answers.shift() ?? s.fallback;
      }
      res.writeHead(a.status, a.body === undefined ? {} : { 'content-type': 'application/json' });
      res.end(a.body === undefined ? undefined : JSON.stringify(a.body));
      for (const w of waiters.splice(0)) w();
    });
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const notGrants = () => seen.filter((r) => !isGrant(r));
  return Object.assign(s, {
    origin,
    seen,
    received: async (n: number, timeoutMs = 10_000) => {
      const until = Date.now() + timeoutMs;
      while (notGrants().length < n) {
        const left = until - Date.now();
        if (left <= 0)
          throw new Error(`${origin}: ${notGrants().length} requests of ${n} after ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      return notGrants();
    },
    close: async () => {
      waiters = [];
      if ('closeAllConnections' in server) server.closeAllConnections();
      for (const session of sessions) session.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  }) as StandIn;
}

export function fcmStandIn(cert: TestCert): Promise<StandIn> {
  return standIn(
    (on) => https.createServer({ key: cert.key, cert: cert.cert }, on),
    { status: 200, body: { name: 'projects/p/messages/1' } },
    (r) => r.path === '/token',
  );
}

export function apnsStandIn(cert: TestCert): Promise<StandIn> {
  return standIn((on) => http2.createSecureServer({ key: cert.key, cert: cert.cert }, on), { status: 200 });
}

export function webPushStandIn(cert: TestCert): Promise<StandIn> {
  return standIn((on) => https.createServer({ key: cert.key, cert: cert.cert }, on), { status: 201 });
}
