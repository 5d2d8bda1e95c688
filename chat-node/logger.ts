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
