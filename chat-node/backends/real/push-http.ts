/**
 * One bounded HTTP/1.1 request for the push providers (FCM and its OAuth2 token endpoint): node:https
 * rather than fetch so that an extra CA (CHAT_PUSH_CA_FILE) can be trusted, a time limit on the whole
 * exchange, and at most 64 KiB of answer read.
 */
import http from 'node:http';
import https from 'node:https';

const MAX_ANSWER_BYTES = 64 * 1024;

export interface PushHttpAnswer {
  status: number;
  body: string;
}

export interface PushHttpClient {
  request(
    url: string,
    o: { method: 'POST'; headers: Record<string, string>; body: string },
  ): Promise<PushHttpAnswer>;
  close(): void;
}

/** Keep-alive agents for http: and https: URLs; `ca` (PEM) replaces the system CAs when given. */
export function pushHttpClient(o: { ca?: string; timeoutMs?: number } = {}): PushHttpClient {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: 16 }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: 16, ...(o.ca ? { ca: o.ca } : {}) }),
  };
  return {
    request: (url, r) =>
      new Promise((resolve, reject) => {
        const u = new URL(url);
        const agent = agents[u.protocol as keyof typeof agents];
        if (!agent) return reject(new Error(`not an http(s) URL: ${u.origin}`));
        const send = u.protocol === 'https:' ? https.request : http.request;
        const timer = setTimeout(
          () => req.destroy(new Error(`no answer from ${u.origin} in ${timeoutMs} ms`)),
          timeoutMs,
        );
        const fail = (err: Error) => {
          clearTimeout(timer);
          reject(err);
        };
        const req = send(u, { method: r.method, headers: r.headers, agent }, (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_ANSWER_BYTES) return req.destroy(new Error(`answer of ${u.origin} over 64 KiB`));
            chunks.push(c);
          });
          res.on('end', () => {
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('error', fail);
        });
        req.on('error', fail);
        req.end(r.body);
      }),
    close: () => {
      for (const a of Object.values(agents)) a.destroy();
    },
  };
}
