import type { Logger } from '@nestjs/common';
import type { RedisClient } from '../redis/redis-client.factory.js';

/** How long the admin UI reconnects with its session id before asking for the password again. */
export const ADMIN_SESSION_TTL_SECONDS = 8 * 3600;

/** The library's session ids: 8 random bytes in hex. Anything else is not looked up at all. */
const SESSION_ID = /^[0-9a-f]{16}$/;

/** Under REDIS_KEY_PREFIX like every key of the service; not `<prefix>:session:*`, the sockets' hashes. */
export function adminSessionKey(prefix: string, sessionId: string): string {
  return `${prefix}:admin-ui-session:${sessionId}`;
}

/**
 * `@socket.io/admin-ui`'s session store (its `Store` shape) in Redis, shared by every worker and pod.
 * It never throws: the library neither awaits `saveSession` nor catches `doesSessionExist`, so a Redis
 * failure means "unknown session" (the UI asks for the password), not an unhandled rejection.
 */
export class RedisAdminSessionStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {}

  async doesSessionExist(sessionId: string): Promise<boolean> {
    if (typeof sessionId !== 'string' || !SESSION_ID.test(sessionId)) return false;
    try {
      return (await this.redis.exists(adminSessionKey(this.prefix, sessionId))) === 1;
    } catch {
      return false;
    }
  }

  saveSession(sessionId: string): void {
    this.redis
      .set(adminSessionKey(this.prefix, sessionId), '1', 'EX', ADMIN_SESSION_TTL_SECONDS)
      .catch(() => {
        // The id is a credential: never logged.
        this.logger.warn(
          'Admin UI session not saved (Redis unavailable): the UI will ask for the password again',
        );
      });
  }

  /** The library logs its options as JSON under DEBUG: a name, not the Redis client. */
  toJSON(): string {
    return 'RedisAdminSessionStore';
  }
}
