import { Logger, type LogLevel } from '@nestjs/common';
import { JsonLogger } from './json-logger.js';

/** A logger writing to memory; `lines()` parses what it wrote, one JSON object per line. */
function capture(levels?: LogLevel[]) {
  const written: string[] = [];
  const logger = new JsonLogger({
    destination: { write: (line: string) => void written.push(line) },
    levels,
  });
  return {
    logger,
    raw: () => written.join(''),
    lines: () =>
      written
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsIm5hbWUiOiJVc2VyIGFsaWNlIn0.' +
  'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';

describe('JsonLogger', () => {
  it('writes one JSON object per line: level label, ISO time, pid, context, msg', () => {
    // Arrange
    const { logger, raw, lines } = capture();
    // Act
    logger.log('Shutdown complete', 'Shutdown');
    logger.warn('Redis command connection lost');
    // Assert
    expect(raw().split('\n')).toHaveLength(3);
    const [first, second] = lines();
    expect(Object.keys(first)).toEqual(['level', 'time', 'pid', 'context', 'msg']);
    expect(first).toEqual({
      level: 'info',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      pid: process.pid,
      context: 'Shutdown',
      msg: 'Shutdown complete',
    });
    expect(second).toMatchObject({ level: 'warn', msg: 'Redis command connection lost' });
    expect(second).not.toHaveProperty('context');
  });

  it.each<[LogLevel, string]>([
    ['log', 'info'],
    ['warn', 'warn'],
    ['error', 'error'],
    ['fatal', 'fatal'],
    ['debug', 'debug'],
    ['verbose', 'trace'],
  ])('Nest level %s is pino level %s', (nestLevel, label) => {
    const { logger, lines } = capture(['verbose', 'debug', 'log', 'warn', 'error', 'fatal']);
    logger[nestLevel]?.('x');
    expect(lines()).toEqual([expect.objectContaining({ level: label })]);
  });

  it('logs log, warn, error and fatal by default; debug and verbose are off', () => {
    const { logger, lines } = capture();
    for (const level of ['verbose', 'debug', 'log', 'warn', 'error', 'fatal'] as const) logger[level](level);
    expect(lines().map((line) => line.msg)).toEqual(['log', 'warn', 'error', 'fatal']);
  });

  it('follows setLogLevels (Nest calls it for `logger: [...]` and app.useLogger)', () => {
    const { logger, lines } = capture();
    logger.setLogLevels(['error']);
    logger.log('quiet');
    logger.error('loud');
    expect(lines().map((line) => line.msg)).toEqual(['loud']);
    expect(logger.isLevelEnabled('log')).toBe(false);
  });

  it('takes a LogRecord: msg stays the text, the other keys become fields', () => {
    const { logger, lines } = capture();
    logger.log(
      { msg: 'User bob joined conversation c1', socketId: 's1', userId: 'bob', conversationId: 'c1' },
      'ChatGateway',
    );
    expect(lines()[0]).toEqual({
      level: 'info',
      time: expect.any(String),
      pid: process.pid,
      context: 'ChatGateway',
      socketId: 's1',
      userId: 'bob',
      conversationId: 'c1',
      msg: 'User bob joined conversation c1',
    });
  });

  it('receives context and fields through a Nest Logger instance once installed process-wide', () => {
    const { logger, lines } = capture();
    Logger.overrideLogger(logger);
    try {
      new Logger('ChatGateway').log({ msg: 'WebSocket connected: User bob (sid: s1)', socketId: 's1' });
      new Logger('ChatGateway').error({ msg: 'Event x failed', err: new Error('boom') });
      Logger.warn('static, no context');
    } finally {
      Logger.overrideLogger(false);
    }
    const [connected, failed, plain] = lines();
    expect(connected).toMatchObject({ context: 'ChatGateway', socketId: 's1', msg: expect.any(String) });
    expect(failed).toMatchObject({ level: 'error', context: 'ChatGateway', err: { message: 'boom' } });
    expect(plain).toMatchObject({ level: 'warn', msg: 'static, no context' });
    expect(plain).not.toHaveProperty('context');
  });

  describe('errors', () => {
    it('an Error as the message becomes err (type, message, stack), its message the msg', () => {
      const { logger, lines } = capture();
      logger.error(new TypeError('bad input'), 'Worker');
      const [line] = lines();
      expect(line).toMatchObject({
        level: 'error',
        context: 'Worker',
        msg: 'bad input',
        err: {
          type: 'TypeError',
          message: 'bad input',
          stack: expect.stringContaining('TypeError: bad input\n'),
        },
      });
    });

    it('a stack string as Nest passes it (logger.error(message, stack, context)) becomes err, not the context', () => {
      const { logger, lines } = capture();
      const error = new Error('could not connect');
      logger.error('Fatal: could not start', error.stack, 'Main');
      logger.error('no stack at all', undefined, 'Main');
      logger.error('static with a stack', error.stack);
      const [withStack, without, staticCall] = lines();
      expect(withStack).toMatchObject({
        context: 'Main',
        msg: 'Fatal: could not start',
        err: { type: 'Error', message: 'could not connect', stack: error.stack },
      });
      expect(without).toEqual(expect.objectContaining({ context: 'Main', msg: 'no stack at all' }));
      expect(without).not.toHaveProperty('err');
      expect(staticCall).toMatchObject({ msg: 'static with a stack', err: { stack: error.stack } });
      expect(staticCall).not.toHaveProperty('context');
    });

    it("keeps an error's code but none of its other properties (libraries park secrets there)", () => {
      const { logger, lines } = capture();
      const error = Object.assign(new Error('WRONGPASS invalid username-password pair'), {
        code: 'WRONGPASS',
        command: { name: 'auth', args: ['Hunter2-Redis-Password'] },
        parameters: ['what the user wrote'],
      });
      logger.warn({ msg: 'Redis command unreachable', err: error });
      const [line] = lines();
      expect(line.err).toEqual({
        type: 'Error',
        message: 'WRONGPASS invalid username-password pair',
        stack: expect.any(String),
        code: 'WRONGPASS',
      });
      expect(JSON.stringify(line)).not.toMatch(/Hunter2|what the user wrote/);
    });

    it('serializes a thrown non-Error as its text', () => {
      const { logger, lines } = capture();
      logger.error({ msg: 'Event failed', err: 'a string was thrown' });
      expect(lines()[0].err).toEqual({ message: 'a string was thrown' });
    });
  });

  describe('redaction', () => {
    it.each([
      'token',
      'auth',
      'authorization',
      'cookie',
      'password',
      'secret',
      'jwtSecret',
      'content',
      'delta',
    ])('censors the key %s at the top level and one level down', (key) => {
      const { logger, raw, lines } = capture();
      logger.log({ msg: 'fields', [key]: 'SENSITIVE-VALUE', payload: { [key]: 'SENSITIVE-VALUE', keep: 1 } });
      expect(raw()).not.toContain('SENSITIVE-VALUE');
      expect(lines()[0]).toMatchObject({ [key]: '***', payload: { [key]: '***', keep: 1 } });
    });

    it('censors a handshake auth and request credentials', () => {
      const { logger, raw, lines } = capture();
      logger.log({
        msg: 'handshake',
        handshake: {
          auth: { token: JWT },
          headers: { authorization: `Bearer ${JWT}`, cookie: 'sid=abc123' },
        },
        headers: { authorization: 'Basic dXNlcjpwYXNz', cookie: 'io=abc', host: 'chat' },
      });
      expect(raw()).not.toMatch(/eyJ|dXNlcjpwYXNz|abc123|io=abc/);
      expect(lines()[0]).toMatchObject({
        handshake: { auth: '***', headers: { authorization: '***', cookie: '***' } },
        headers: { authorization: '***', cookie: '***', host: 'chat' },
      });
    });

    it.each([
      ['a JWT', `token was ${JWT} here`, 'token was *** here'],
      ['an unsigned JWT', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', '***'],
      ['a JWT cut short', `name: ${JWT.slice(0, 60)} (sid: s1)`, 'name: *** (sid: s1)'],
      [
        'a Redis URL with a password',
        'Redis manager initialized: redis://:s3cret@127.0.0.1:6379',
        'Redis manager initialized: redis://***@127.0.0.1:6379',
      ],
      [
        'a Redis URL with a user and a password, then a path and more text',
        'connecting to rediss://chat:p%40ss@cache.example.com:6380/2 (attempt 3)',
        'connecting to rediss://chat:***@cache.example.com:6380/2 (attempt 3)',
      ],
      [
        'a password holding an unencoded @',
        'redis://:p@ss@word@10.0.0.5:6379: refused',
        'redis://***@10.0.0.5:6379: refused',
      ],
      [
        'a PostgreSQL URL',
        'could not reach postgres://chat:Pg-Secret-1@db.internal:5432/chat?sslmode=require',
        'could not reach postgres://chat:***@db.internal:5432/chat?sslmode=require',
      ],
      ['an IPv6 host', '"redis://:pw@[::1]:6379"', '"redis://***@[::1]:6379"'],
      [
        'a URL without a password',
        'redis://cache:6379 and http://user@host/x',
        'redis://cache:6379 and http://user@host/x',
      ],
      ['text without any', 'User bob joined conversation 1a2b', 'User bob joined conversation 1a2b'],
    ])('scrubs %s inside the message', (_case, message, expected) => {
      const { logger, lines } = capture();
      logger.log(message, 'Test');
      expect(lines()[0].msg).toBe(expected);
    });

    it('scrubs string fields and error messages and stacks too', () => {
      const { logger, raw } = capture();
      const error = new Error('connect to redis://:in-the-stack@127.0.0.1:1 failed');
      logger.error({ msg: 'failed', target: 'postgres://u:field-pw@db/x', err: error });
      logger.error('failed again', error.stack, 'Redis');
      expect(raw()).not.toMatch(/in-the-stack|field-pw/);
      expect(raw()).toContain('redis://***@127.0.0.1:1');
    });
  });

  it('prints non-ASCII text and quotes as JSON does: readable, and grep-able through JSON.parse', () => {
    const { logger, raw, lines } = capture();
    logger.log('Checking database migrations… "quoted"');
    expect(raw()).toContain('Checking database migrations… \\"quoted\\"');
    expect(lines()[0].msg).toBe('Checking database migrations… "quoted"');
  });
});
