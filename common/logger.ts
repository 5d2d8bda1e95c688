/** Structured logs (pino, JSON lines on stdout; pretty is a plain one-line format for humans). */
import { type Logger, pino } from 'pino';

export type { Logger };

export function createLogger(options: { level: string; pretty?: boolean; name?: string }): Logger {
  if (!options.pretty) return pino({ level: options.level, name: options.name, base: { pid: process.pid } });
  return pino(
    { level: options.level, name: options.name, base: null, timestamp: false },
    {
      write(line: string) {
        const { level, msg, name, ...rest } = JSON.parse(line) as Record<string, unknown>;
        const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
        process.stdout.write(
          `${pino.levels.labels[level as number] ?? level} ${name ? `[${name}] ` : ''}${msg}${extra}\n`,
        );
      },
    },
  );
}

/** A logger that drops everything: for tests that do not read logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * Log lines that would repeat once per request while a backend fails (every send failing the same
 * way): at most one line per key and interval, carrying how many were held back since the last one.
 * The log stays readable, and a storm of errors does not turn into a storm of synchronous writes.
 */
export class LogThrottle {
  private readonly intervalMs: number;
  private readonly clock: () => number;
  private readonly keys = new Map<string, { at: number; held: number }>();

  constructor(intervalMs = 5000, clock: () => number = Date.now) {
    this.intervalMs = intervalMs;
    this.clock = clock;
  }

  /** Calls `write(held)` unless `key` was written less than the interval ago; then counts it. */
  write(key: string, write: (held: number) => void): void {
    const now = this.clock();
    const k = this.keys.get(key);
    if (k && now - k.at < this.intervalMs) {
      k.held++;
      return;
    }
    if (!k && this.keys.size >= 1000) this.keys.clear();
    write(k?.held ?? 0);
    this.keys.set(key, { at: now, held: 0 });
  }
}
