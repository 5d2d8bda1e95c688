/** The shape of a scenario result row, as printed in tables and saved in the summary JSON. */
import { load1 } from '../lib/proc.ts';

export interface ResultRow {
  scenario: string;
  /** Target id (embedded, durable, relay, centrifugo). */
  target: string;
  targetName: string;
  /** What was asked for: connections, rate, duration… */
  params: Record<string, number | string>;
  /** What was measured. */
  metrics: Record<string, number | string | null>;
  /** 1-minute load average of the machine when the row was taken. */
  load1: number;
  at: string;
}

export function row(
  scenario: string,
  target: { id: string; name: string; workers?: number },
  params: ResultRow['params'],
  metrics: ResultRow['metrics'],
): ResultRow {
  return {
    scenario,
    target: target.id,
    targetName: target.name,
    params: target.workers === undefined ? params : { loops: target.workers, ...params },
    metrics,
    load1: load1(),
    at: new Date().toISOString(),
  };
}

export type Log = (line: string) => void;

export function mib(bytes: number): number {
  return Math.round((bytes / 1024 / 1024) * 10) / 10;
}
