import { hostname } from 'node:os';
import { Logger } from '@nestjs/common';
import { InMemoryStore, instrument } from '@socket.io/admin-ui';
import type { Server, Socket } from 'socket.io';
import type { AdminUiConfig } from '../config/app-config.js';
import type { RedisManager } from '../redis/redis.manager.js';
import { RedisAdminSessionStore } from './admin-session.store.js';

/** The namespace the admin UI connects to (its default); the service's clients use `/chat`. */
export const ADMIN_NAMESPACE = '/admin';

/** bcrypt reads 72 bytes at most; anything far longer is not a password, and is not worth hashing. */
const MAX_CREDENTIAL_LENGTH = 1024;

/** The operations a writable admin UI sends (@socket.io/admin-ui's feature handlers). */
const WRITE_EVENTS = new Set(['emit', 'join', 'leave', '_disconnect']);

/**
 * `@socket.io/admin-ui` on this worker's server, with basic authentication always. Through the Redis
 * adapter (set before this is called, so /admin gets it too) an admin socket on any worker receives
 * every worker's `server_stats`, and `fetchSockets()` lists the sockets of every worker and instance.
 */
export function instrumentAdminUi(server: Server, config: AdminUiConfig, redis: RedisManager): void {
  const logger = new Logger('AdminUi');
  const namespace = server.of(ADMIN_NAMESPACE);
  // Before the library's own middleware: it bcrypt-compares `password` whenever `username` matches, and
  // a missing password would make that promise reject with nobody to catch it.
  namespace.use((socket, next) => {
    const { sessionId, username, password } = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    const sessionShaped = sessionId === undefined || typeof sessionId === 'string';
    const passwordShaped = typeof password === 'string' && password.length <= MAX_CREDENTIAL_LENGTH;
    if (sessionShaped && (passwordShaped || username !== config.username)) return next();
    next(new Error('invalid credentials'));
  });
  namespace.on('connection', (socket: Socket) => {
    // Who did what, never the credentials or an event's arguments (a message's content, say).
    logger.log({ msg: `Admin UI connected (sid: ${socket.id})`, socketId: socket.id });
    socket.onAny((event: unknown, target: unknown) => {
      if (typeof event === 'string' && WRITE_EVENTS.has(event) && !config.readonly)
        logger.warn({
          msg: `Admin UI ${event} on ${String(target)} (sid: ${socket.id})`,
          socketId: socket.id,
        });
    });
  });
  instrument(server, {
    namespaceName: ADMIN_NAMESPACE,
    auth: redactedLogin(config),
    readonly: config.readonly,
    mode: config.mode,
    // Every worker of every pod is a server of its own in the UI's list.
    serverId: `${hostname()}#${process.pid}`,
    // Redis: a session opened on one worker is known to all (the UI reconnects wherever it lands).
    store: redis.enabled
      ? new RedisAdminSessionStore(redis.client('command'), redis.config.keyPrefix, logger)
      : new InMemoryStore(),
  });
  logger.log(
    `Socket.IO admin UI on ${ADMIN_NAMESPACE} (${config.readonly ? 'read-only' : 'WRITABLE'}, ${config.mode} mode)`,
  );
}

/**
 * The library's `auth` option, serialized (its `debug` logs its options as JSON with DEBUG=socket.io-admin)
 * without the username or the hash: they are non-enumerable.
 */
function redactedLogin({ username, passwordHash }: AdminUiConfig) {
  const login = { type: 'basic' as const } as { type: 'basic'; username: string; password: string };
  Object.defineProperty(login, 'username', { value: username, enumerable: false });
  Object.defineProperty(login, 'password', { value: passwordHash, enumerable: false });
  return login;
}
