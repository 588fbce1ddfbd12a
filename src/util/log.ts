import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function isLogLevel(value: string): value is LevelWithSilent {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/**
 * The process's root logger (JSON lines on stdout). Known credential paths are censored by pino itself as a
 * second line of defence; request bodies pass through util/redact before they reach a log call.
 */
export function createLogger(level: LevelWithSilent, name = 'ferry', to: 'stdout' | 'stderr' = 'stdout'): Logger {
  const options = {
    name,
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['password', '*.password', 'secrets', '*.secrets', 'headers.authorization', '*.headers.authorization', 'token', '*.token'],
      censor: '[redacted]',
    },
    serializers: { err: pino.stdSerializers.err },
  };
  // A command whose standard output is its answer (`ferry adopt`) logs to standard error.
  return to === 'stderr' ? pino(options, pino.destination(2)) : pino(options);
}
