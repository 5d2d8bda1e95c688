/**
 * The peer: a Centrifugo-style server (see centrifugo-build.sh and centrifuge-peer/main.go), built
 * on first use into a cache outside the repository, configured by a generated config file (HMAC
 * token secret; namespaces `personal` (a user subscribes to its own channel, anyone may publish:
 * 1:1 messages go client → channel → subscriber) and `group`; no history), and driven with its JSON
 * protocol by the same load generator.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { randomId } from '../../common/ids.ts';
import { freePort, spawnTracked, stopChild, waitFor } from '../lib/proc.ts';
import type { Target } from './types.ts';

export interface CentrifugoBuild {
  /** 'app' for the Centrifugo binary, 'lib' for the centrifuge-library build. */
  flavor: 'app' | 'lib';
  binary: string;
}

let built: CentrifugoBuild | Error | undefined;

/** Builds (once per process, and once per version on disk) or returns why it cannot. */
export function buildCentrifugo(log: (line: string) => void): CentrifugoBuild | Error {
  if (built) return built;
  log('centrifugo: checking the build (the first use compiles it with Go at nice 15)');
  const r = spawnSync('bash', [join(import.meta.dirname, 'centrifugo-build.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 15 * 60_000,
  });
  const last = r.stdout?.trim().split('\n').pop() ?? '';
  const m = /^(app|lib) (\S+)$/.exec(last);
  built =
    r.status === 0 && m
      ? { flavor: m[1] as 'app' | 'lib', binary: m[2]! }
      : new Error(`build failed (exit ${r.status ?? r.signal}): ${r.error?.message ?? last}`);
  return built;
}

/** The generated config, with Centrifugo v6 key names. */
export function centrifugoConfig(secret: string, port: number): Record<string, unknown> {
  return {
    http_server: { address: '127.0.0.1', port },
    client: { token: { hmac_secret_key: secret }, allowed_origins: ['*'] },
    log: { level: 'error' },
    health: { enabled: true },
    channel: {
      namespaces: [
        {
          name: 'personal',
          allow_subscribe_for_client: true,
          allow_publish_for_client: true,
          allow_user_limited: true,
          history_size: 0,
        },
        { name: 'group', allow_subscribe_for_client: true, allow_publish_for_client: true, history_size: 0 },
      ],
    },
  };
}

export async function startCentrifugo(build: CentrifugoBuild): Promise<Target> {
  const secret = randomBytes(32).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'centrifugo-bench-'));
  const config = join(dir, 'config.json');
  const port = await freePort();
  writeFileSync(config, JSON.stringify(centrifugoConfig(secret, port), null, 2));
  const args = build.flavor === 'app' ? ['--config', config] : ['-config', config];
  const proc = spawnTracked(build.binary, args, { cwd: dir });
  const addr = `127.0.0.1:${port}`;
  await waitFor('centrifugo to answer /health', async () => {
    if (proc.child.exitCode !== null) throw new Error(`centrifugo exited:\n${proc.logs.join('\n')}`);
    return fetch(`http://${addr}/health`).then(
      (r) => r.ok,
      () => false,
    );
  });
  const key = new TextEncoder().encode(secret);
  const ids = (n: number) =>
    Promise.all(
      Array.from({ length: n }, async () => {
        const userId = randomId('u');
        const token = await new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject(userId)
          .setExpirationTime('1d')
          .sign(key);
        return { userId, token };
      }),
    );
  return {
    id: 'centrifugo',
    name: build.flavor === 'app' ? 'Centrifugo' : 'Centrifugo engine (centrifuge lib)',
    endpoint: { kind: 'centrifugo', wsUrl: `ws://${addr}/connection/websocket` },
    pid: proc.pid,
    accounts: ids,
    identities: ids,
    group: async () => randomId('g'),
    async stop() {
      await stopChild(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
