/** The pure parts of the load generator: latency percentiles, payload timing and source addresses. */
import { describe, expect, it } from 'vitest';
import {
  addressFor,
  freshSourceAddresses,
  portRangeSize,
  sourceAddresses,
} from '../../bench/loadgen/addresses.ts';
import { Histogram } from '../../bench/loadgen/histogram.ts';
import { payload, sentAtOf } from '../../bench/loadgen/protocols.ts';
import { comparison, latencySvg, ratios } from '../../bench/report.ts';
import type { ResultRow } from '../../bench/scenarios/result.ts';

describe('Histogram', () => {
  it('gives percentiles within 1% of the exact nearest-rank values', () => {
    const h = new Histogram();
    const values = Array.from({ length: 10_000 }, (_, i) => (i + 1) / 10); // 0.1 … 1000 ms
    for (const v of values) h.record(v);
    for (const [p, exact] of [
      [50, 500],
      [99, 990],
      [99.9, 999],
    ] as const) {
      expect(Math.abs(h.percentile(p) - exact) / exact).toBeLessThan(0.01);
    }
    expect(h.count).toBe(10_000);
    expect(h.min).toBe(0.1);
    expect(h.max).toBe(1000);
    expect(h.percentile(100)).toBe(1000);
    expect(h.percentile(0)).toBeCloseTo(0.1, 2);
  });

  it('is empty, then clamps to the observed range, and counts negatives as zero', () => {
    const h = new Histogram();
    expect(Number.isNaN(h.percentile(50))).toBe(true);
    expect(h.summary()).toMatchObject({ count: 0, p50: null, p99: null });
    h.record(7);
    expect(h.percentile(1)).toBe(7);
    expect(h.percentile(99.9)).toBe(7);
    h.record(-3);
    expect(h.min).toBe(0);
    expect(h.percentile(50)).toBe(0);
  });

  it('merges (also from a snapshot) as if all values were recorded in one', () => {
    const a = new Histogram();
    const b = new Histogram();
    const all = new Histogram();
    for (let i = 1; i <= 1000; i++) {
      (i % 3 ? a : b).record(i);
      all.record(i);
    }
    const merged = Histogram.from(a.snapshot());
    merged.merge(b);
    expect(merged.summary()).toEqual(all.summary());
    a.reset();
    expect(a.count).toBe(0);
  });

  it('keeps a 1 µs floor and a far ceiling', () => {
    const h = new Histogram();
    h.record(0.0001);
    h.record(3_600_000);
    expect(h.percentile(50)).toBeCloseTo(0.0001, 6);
    expect(h.percentile(100)).toBe(3_600_000);
  });
});

describe('source addresses', () => {
  it('uses one loopback address per 1,000 connections by default, never 127.0.0.1', () => {
    expect(sourceAddresses(1)).toEqual(['127.0.0.2']);
    expect(sourceAddresses(1000)).toEqual(['127.0.0.2']);
    expect(sourceAddresses(1001)).toEqual(['127.0.0.2', '127.0.0.3']);
    expect(sourceAddresses(50_000)).toHaveLength(50);
    expect(sourceAddresses(20_000, 20_000)).toHaveLength(1);
  });

  it('starts later pools on addresses earlier ones did not use, wrapping around', () => {
    const a = freshSourceAddresses(2500);
    const b = freshSourceAddresses(10);
    expect(a).toHaveLength(3);
    expect(b).toHaveLength(1);
    expect(a).not.toContain(b[0]);
    expect(sourceAddresses(1, 1, undefined, 256 * 256 - 2)).toEqual(['127.0.0.2']);
  });

  it('stays under the ephemeral port range and crosses into 127.0.1.x', () => {
    expect(sourceAddresses(10_000, 20_000, 5000)).toHaveLength(2);
    const many = sourceAddresses(300, 1);
    expect(many).toHaveLength(300);
    expect(new Set(many).size).toBe(300);
    expect(many[253]).toBe('127.0.0.255');
    expect(many[254]).toBe('127.0.1.0');
    expect(many.every((a) => /^127\.0\.\d+\.\d+$/.test(a) && a !== '127.0.0.1')).toBe(true);
  });

  it('spreads connections round-robin, evenly', () => {
    const addrs = sourceAddresses(60_000, 20_000);
    const counts = new Map<string, number>();
    for (let i = 0; i < 60_000; i++) {
      const a = addressFor(i, addrs);
      counts.set(a, (counts.get(a) ?? 0) + 1);
    }
    expect([...counts.values()]).toEqual([20_000, 20_000, 20_000]);
  });

  it('reads the size of ip_local_port_range', () => {
    expect(portRangeSize('32768\t60999\n')).toBe(28_232);
    expect(portRangeSize('garbage')).toBeUndefined();
  });
});

describe('payload timing', () => {
  it('reads the send time back from any protocol frame that carries the text', () => {
    const text = payload(12345.678, 100);
    expect(text).toHaveLength(100);
    const chat = Buffer.from(JSON.stringify({ type: 'message', messageId: '1', text, ts: 1 }));
    expect(sentAtOf(chat)).toBeCloseTo(12345.678, 3);
    const push = Buffer.from(`{"id":1}\n{"push":{"channel":"c","pub":{"data":{"text":"${text}"}}}}`);
    const at = push.indexOf('\n') + 1;
    expect(sentAtOf(push, at)).toBeCloseTo(12345.678, 3);
    expect(Number.isNaN(sentAtOf(push, 0, at))).toBe(true);
    expect(Number.isNaN(sentAtOf(Buffer.from('{"type":"sent"}')))).toBe(true);
  });
});

describe('report', () => {
  const r = (target: string, metrics: ResultRow['metrics'], params: ResultRow['params']): ResultRow => ({
    scenario: '1:1',
    target,
    targetName: target,
    params,
    metrics,
    load1: 0,
    at: '',
  });
  it('computes ratios against the relay and Centrifugo, and plots the rate steps', () => {
    const rows = [
      r('embedded', { deliveredPerSec: 500 }, { phase: 'max' }),
      r('relay', { deliveredPerSec: 1000 }, { phase: 'max' }),
      r('embedded', { deliveredPerSec: 100, p50Ms: 1, p99Ms: 5 }, { phase: 'rate', rate: 100 }),
    ];
    expect(ratios(rows)[0]).toMatchObject({ value: 0.5 });
    const svg = latencySvg(rows, 'test <plot>');
    expect(svg).toContain('<svg');
    expect(svg).toContain('test &lt;plot&gt;');
    expect(svg).toContain('<path');
  });

  it('prints the comparison: a line per measured figure, a column per target, the chat node over each peer', () => {
    const at =
      (scenario: string) =>
      (row: ResultRow): ResultRow => ({ ...row, scenario });
    const rows = [
      r('relay', { deliveredPerSec: 60_000, targetCpuUsPerMsg: 15 }, { phase: 'max' }),
      r('centrifugo', { deliveredPerSec: 40_000, targetCpuUsPerMsg: 30 }, { phase: 'max' }),
      r('embedded', { deliveredPerSec: 20_000, targetCpuUsPerMsg: 90 }, { phase: 'max' }),
      r('embedded', { p99Ms: 12 }, { phase: 'rate', rate: 1000 }),
      r('relay', { p99Ms: 3 }, { phase: 'rate', rate: 1000 }),
      at('idle')(r('embedded', { bytesPerConn: 9000, held: 10_000 }, { connections: 10_000 })),
      at('fan-out')(r('centrifugo', { p99Ms: 10 }, { rate: 1600 })),
      at('fan-out')(r('embedded', { p99Ms: 300 }, { rate: 800 })),
    ];
    const lines = comparison(rows).split('\n');
    expect(lines[0]).toBe(
      '| measure | raw ws relay | Centrifugo | chat node | chat ÷ relay | chat ÷ Centrifugo |',
    );
    const line = (what: string) => lines.find((l) => l.startsWith(`| ${what}`));
    expect(line('1:1 delivered msgs/s')).toMatch(/\| 60000 \| 40000 \| 20000 \| 0.33 \| 0.5 \|$/);
    expect(line('CPU per delivered 1:1 message (µs)')).toMatch(/\| 15 \| 30 \| 90 \| 6 \| 3 \|$/);
    expect(line('1:1 at 1,000 msgs/s, p99 (ms)')).toMatch(/\| 3 \| – \| 12 \| 4 \| – \|$/);
    expect(line('idle connection, RSS at 10,000 (B)')).toMatch(/\| – \| – \| 9000 \| – \| – \|$/);
    // Only the 1,600/s step is compared; a measure nobody has is left out.
    expect(line('fan-out of 1,600')).toMatch(/\| – \| 10 \| – \| – \| – \|$/);
    expect(line('idle connection, RSS after a GC')).toBeUndefined();
  });
});
