import type { LoggerService, LogLevel } from '@nestjs/common';
import { type DestinationStream, type Level, pino, type Logger as Pino } from 'pino';
import { CENSOR, REDACTED_PATHS, scrubSecrets } from './log-redaction.js';

/** The levels the service logs unless told otherwise: debug and verbose stay off. */
const DEFAULT_LOG_LEVELS: readonly LogLevel[] = ['log', 'warn', 'error', 'fatal'];

/** Nest's level names on pino's (the `level` field of a line): `log` is `info`, `verbose` is `trace`. */
const PINO_LEVEL: Record<LogLevel, Level> = {
  verbose: 'trace',
  debug: 'debug',
  log: 'info',
  warn: 'warn',
  error: 'error',
  fatal: 'fatal',
};

/** Structured fields as the message of a `Logger` call: `logger.log({ msg, socketId, err })`. */
export interface LogRecord {
  msg: string;
  socketId?: string;
  userId?: string;
  conversationId?: string;
  messageId?: string;
  err?: unknown;
  [field: string]: unknown;
}

export interface JsonLoggerOptions {
  /** Where lines go; default stdout, written synchronously (a line logged before `process.exit` stays). */
  destination?: DestinationStream;
  /** Enabled Nest levels; default `DEFAULT_LOG_LEVELS`. */
  levels?: readonly LogLevel[];
}

/** A stack as V8 prints it: a first line, then "    at ..." frames. */
const STACK = /\n\s+at /;

/**
 * Type, message, stack and code only: other enumerable properties may hold secrets or message content
 * (ioredis: AUTH arguments; TypeORM: query parameters). Message and stack are scrubbed like `msg`.
 */
function serializeError(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || typeof (value as Error).message !== 'string')
    return { message: scrubSecrets(String(value)) };
  const { type, message, stack } = pino.stdSerializers.err(value as Error);
  const { code } = value as { code?: unknown };
  return {
    type,
    message: scrubSecrets(message),
    ...(stack !== undefined && { stack: scrubSecrets(stack) }),
    ...((typeof code === 'string' || typeof code === 'number') && { code }),
  };
}

/** An Error for a stack that arrived as text: `logger.error(message, error.stack)`, Nest's convention. */
function errorFromStack(stack: string): Error {
  const firstLine = stack.slice(0, stack.indexOf('\n'));
  const error = new Error(firstLine.replace(/^\w*Error: /, ''));
  error.stack = stack;
  return error;
}

/** Nest's `LoggerService` over pino: JSON lines, secrets censored (docs/decisions/0010-json-logger.md). */
export class JsonLogger implements LoggerService {
  private readonly pino: Pino;
  private enabled: Set<LogLevel>;

  constructor({ destination, levels = DEFAULT_LOG_LEVELS }: JsonLoggerOptions = {}) {
    this.enabled = new Set(levels);
    this.pino = pino(
      {
        // Filtering happens here, by Nest's level set (it may have holes, e.g. ['error', 'log']).
        level: 'trace',
        base: { pid: process.pid },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
        serializers: { err: serializeError },
        redact: { paths: [...REDACTED_PATHS], censor: CENSOR },
      },
      destination ?? pino.destination({ fd: 1, sync: true }),
    );
  }

  log(message: unknown, ...optionalParams: unknown[]): void {
    this.write('log', message, optionalParams);
  }

  error(message: unknown, ...optionalParams: unknown[]): void {
    this.write('error', message, optionalParams);
  }

  warn(message: unknown, ...optionalParams: unknown[]): void {
    this.write('warn', message, optionalParams);
  }

  debug(message: unknown, ...optionalParams: unknown[]): void {
    this.write('debug', message, optionalParams);
  }

  verbose(message: unknown, ...optionalParams: unknown[]): void {
    this.write('verbose', message, optionalParams);
  }

  fatal(message: unknown, ...optionalParams: unknown[]): void {
    this.write('fatal', message, optionalParams);
  }

  /** Called by Nest for `logger: LogLevel[]` and `app.useLogger([...])`. */
  setLogLevels(levels: LogLevel[]): void {
    this.enabled = new Set(levels);
  }

  isLevelEnabled(level: LogLevel): boolean {
    return this.enabled.has(level);
  }

  private write(level: LogLevel, message: unknown, optionalParams: unknown[]): void {
    if (!this.enabled.has(level)) return;
    const params = [...optionalParams];
    const last = params.at(-1);
    const context = typeof last === 'string' && !STACK.test(last) ? (params.pop() as string) : undefined;

    const fields: Record<string, unknown> = { context };
    let text: string[] = [];
    if (message instanceof Error) {
      fields.err = message;
      text.push(message.message);
    } else if (message !== null && typeof message === 'object' && !Array.isArray(message)) {
      const { msg, ...rest } = message as Partial<LogRecord>;
      Object.assign(fields, rest);
      if (msg !== undefined) text.push(String(msg));
    } else if (message !== undefined) {
      text.push(String(message));
    }
    for (const param of params) {
      if (param === undefined) continue;
      if (param instanceof Error || (typeof param === 'string' && STACK.test(param))) {
        fields.err ??= typeof param === 'string' ? errorFromStack(param) : param;
      } else if (param !== null && typeof param === 'object' && !Array.isArray(param)) {
        Object.assign(fields, param);
      } else {
        text.push(String(param));
      }
    }
    for (const [key, value] of Object.entries(fields))
      if (typeof value === 'string') fields[key] = scrubSecrets(value);
    text = text.map(scrubSecrets);
    this.pino[PINO_LEVEL[level]](fields, text.join(' '));
  }
}

let processLogger: JsonLogger | undefined;

/** The process's logger on stdout, made on first use: `main.ts` installs it, `createApp` gives it to Nest. */
export function jsonLogger(): JsonLogger {
  processLogger ??= new JsonLogger();
  return processLogger;
}
