import pino, { type DestinationStream, type Logger } from 'pino';

/** Wherever a token or an authorization header could sit in a log object. */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'query.token',
  '*.query.token',
  'JWT_SECRET',
  '*.JWT_SECRET',
  'apiKey',
  '*.apiKey',
  'OPENAI_API_KEY',
  '*.OPENAI_API_KEY',
];

/** The one root logger; modules take children of it (`log.child({ sessionId })`). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
  };
  return destination ? pino(options, destination) : pino(options);
}
