#!/usr/bin/env node
/**
 * How many presence reports one Redis takes: the load that heartbeats put on it (docs/capacity.md).
 * Every connected device reports activity about once per heartbeat interval (`deviceActive`, one Lua
 * script), so reports/s ÷ (1 / heartbeat) is the number of devices one Redis can keep online.
 *
 *   npm run services:up && npm run bench:presence -- [--devices 20000] [--seconds 10] [--concurrency 256]
 *
 * Uses the node's own RedisPresence against the Redis of .services/env, under a cluster name of its
 * own whose keys it deletes afterwards. Prints reports/s and the Redis server's CPU over the run.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { Redis } from 'ioredis';
import { RedisPresence } from '../chat-node/backends/real/redis-presence.ts';
import { silentLogger } from '../common/logger.ts';
import { servicesEnv } from './targets/chat-node.ts';

const opts = new Command('bench-presence')
  .description('Presence reports per second that one Redis takes (RedisPresence.deviceActive).')
  .option('--devices <n>', 'devices kept online', '20000')
  .option('--seconds <n>', 'measured seconds', '10')
  .option('--concurrency <n>', 'reports in flight', '256')
  .parse()
  .opts<{ devices: string; seconds: string; concurrency: string }>();
const devices = Number(opts.devices);
const seconds = Number(opts.seconds);
const concurrency = Number(opts.concurrency);

const env = servicesEnv();
if (!env?.CHAT_REDIS_URL) {
  console.error('bench-presence: .services/env is missing: run `npm run services:up` first');
  process.exit(2);
}
const url = env.CHAT_REDIS_URL;
const cluster = `benchpresence${process.pid}`;
const presence = await RedisPresence.open({ url, cluster, expireMs: 60_000, log: silentLogger() });
const admin = new Redis(url);

/** The Redis server's CPU seconds so far (INFO cpu: used_cpu_sys + used_cpu_user). */
async function redisCpu(): Promise<number> {
  const info = await admin.info('cpu');
  const field = (k: string) => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  return field('used_cpu_sys') + field('used_cpu_user');
}

const ids = Array.from({ length: devices }, (_, i) => [`u${i}`, `d${i}`] as const);
console.log(`bench-presence: ${devices} devices online, ${concurrency} reports in flight, ${seconds} s`);
for (let i = 0; i < ids.length; i += 512)
  await Promise.all(ids.slice(i, i + 512).map(([u, d]) => presence.deviceOnline(u, d, 1, Date.now())));

let reports = 0;
let next = 0;
const cpu0 = await redisCpu();
const t0 = performance.now();
const deadline = t0 + seconds * 1000;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) {
      const [u, d] = ids[next++ % ids.length]!;
      await presence.deviceActive(u, d, Date.now());
      reports++;
    }
  }),
);
const elapsed = (performance.now() - t0) / 1000;
const cpu = (await redisCpu()) - cpu0;
const perSec = Math.round(reports / elapsed);
const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
console.log(
  JSON.stringify({
    devices,
    concurrency,
    seconds: Number(elapsed.toFixed(1)),
    reports,
    reportsPerSec: perSec,
    redisCpuCores: Number((cpu / elapsed).toFixed(2)),
    redisCpuUsPerReport: Number(((cpu * 1e6) / reports).toFixed(1)),
    load1: Number(load),
  }),
);
console.log(
  `bench-presence: ${perSec} reports/s, Redis at ${(cpu / elapsed).toFixed(2)} cores (${((cpu * 1e6) / reports).toFixed(1)} µs of Redis CPU per report)`,
);

// Clean up: the run's keys share the cluster's hash tag.
let cursor = '0';
do {
  const [c, keys] = await admin.scan(cursor, 'MATCH', `chat:{${cluster}}:*`, 'COUNT', 1000);
  cursor = c;
  if (keys.length > 0) await admin.del(...keys);
} while (cursor !== '0');
await presence.close();
admin.disconnect();
