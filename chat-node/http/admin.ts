/**
 * The node's admin API (the contract and its client: common/admin-api.ts): load, shedding N sessions,
 * draining. Enabled only when CHAT_ADMIN_TOKEN is set; every call needs `Authorization: Bearer <admin token>`
 * or `X-Chat-Admin-Token: <admin token>` (what arrives through the Kubernetes API server's pod proxy).
 */
import { timingSafeEqual } from 'node:crypto';
import {
  ADMIN_TOKEN_HEADER,
  DEFAULT_MOVE_RATE,
  drainRequest,
  type LoadReport,
  shedRequest,
} from '../../common/admin-api.ts';
import { ChatError } from '../../common/errors.ts';
import { parseBody } from '../../common/protocol.ts';
import { bearer } from '../chat/tokens.ts';
import type { Request, Router } from './router.ts';

/** Each may answer at once or, on a node of several event loops, once every loop has. */
export interface AdminControls {
  load(): LoadReport | Promise<LoadReport>;
  /**
   * Asks `count` sessions to move at `ratePerSec`, to `url` or else each to the least-loaded other
   * node; returns how many were asked.
   */
  shed(count: number, ratePerSec: number, url?: string): Promise<number>;
  /** Stops taking sessions and asks every one to move; returns how many were asked. */
  drain(ratePerSec: number): number | Promise<number>;
  /** Takes sessions again. */
  undrain(): void | Promise<void>;
}

export function addAdminRoutes(
  router: Router,
  adminToken: string | undefined,
  controls: AdminControls,
): Router {
  const expected = adminToken ? Buffer.from(adminToken) : undefined;
  const auth = (r: Request) => {
    if (!expected) throw new ChatError('not_found', 'the admin API is disabled (set CHAT_ADMIN_TOKEN)');
    const header = r.req.headers[ADMIN_TOKEN_HEADER];
    const given = Buffer.from(
      (typeof header === 'string' ? header : bearer(r.req.headers.authorization)) ?? '',
    );
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new ChatError('unauthorized', 'missing or wrong admin token');
    }
  };
  const optionalJson = async (r: Request) =>
    (r.req.headers['content-length'] ?? '0') === '0' ? {} : r.json();
  return router
    .on('GET', '/admin/v1/load', async (r) => {
      auth(r);
      return { status: 200, body: await controls.load() };
    })
    .on('POST', '/admin/v1/shed', async (r) => {
      auth(r);
      const b = parseBody(shedRequest, await r.json());
      const asked = await controls.shed(b.count, b.ratePerSec ?? DEFAULT_MOVE_RATE, b.url);
      return { status: 202, body: { asked, ...(await controls.load()) } };
    })
    .on('POST', '/admin/v1/drain', async (r) => {
      auth(r);
      const b = parseBody(drainRequest, await optionalJson(r));
      const asked = await controls.drain(b.ratePerSec ?? DEFAULT_MOVE_RATE);
      return { status: 202, body: { asked, ...(await controls.load()) } };
    })
    .on('POST', '/admin/v1/undrain', async (r) => {
      auth(r);
      await controls.undrain();
      return { status: 200, body: await controls.load() };
    });
}
