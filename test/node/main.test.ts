import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';

const MAIN = join(import.meta.dirname, '../../chat-node/main.ts');

/** Starts `node chat-node/main.ts` and resolves with its URL once it logs that it listens. */
function startProcess(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [MAIN], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('chat node did not start in 20 s')), 20_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as { url?: string; msg: string };
      if (entry.url && entry.msg.includes('listening')) {
        clearTimeout(timer);
        resolve({ child, url: entry.url });
      }
    });
    child.once('exit', (code) => reject(new Error(`chat node exited with ${code}`)));
  });
}

describe('the chat-node program', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'chat-main-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('serves, then drains and exits 0 on SIGTERM', async () => {
    const { child, url } = await startProcess({
      CHAT_HOST: '127.0.0.1',
      CHAT_PORT: '0',
      CHAT_DATA_DIR: dataDir,
    });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(200);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('exits 2 with the variable named when the configuration is invalid', () => {
    const r = spawnSync(process.execPath, [MAIN], {
      env: { ...process.env, CHAT_PORT: 'x' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/CHAT_PORT/);
  });

  it('lists every configuration variable in --help', () => {
    const r = spawnSync(process.execPath, [MAIN, '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    for (const v of [
      'CHAT_PORT',
      'CHAT_DATA_DIR',
      'CHAT_NATS_URL',
      'CHAT_PUSH_WEBHOOK_URL',
      'CHAT_HEARTBEAT_MS',
    ]) {
      expect(r.stdout).toContain(v);
    }
  });
});
