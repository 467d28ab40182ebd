import { Inject, Injectable } from '@nestjs/common';
import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import type { RedisManager } from '../redis/redis.manager.js';
import { ChatError } from './chat.error.js';
import { rateLimitKeyPrefix } from '../redis/redis-keys.js';

/** Events per user per window, all sockets and processes together: generous for a person, not for a flood. */
const RATE_LIMIT_POINTS = 100;
const RATE_LIMIT_WINDOW_SECONDS = 30;
/** `typing` relays per user and conversation per second, counted per process; the rest never touch Redis. */
const TYPING_RELAYS_PER_SECOND = 4;

export const EVENT_LIMITER = Symbol('EVENT_LIMITER');

/** The per-user event limiter: in Redis when it is on (shared by every worker and pod), else in memory. */
export function eventLimiterFor(redis: RedisManager): RateLimiterAbstract {
  const options = { points: RATE_LIMIT_POINTS, duration: RATE_LIMIT_WINDOW_SECONDS };
  if (!redis.enabled) return new RateLimiterMemory(options);
  return new RateLimiterRedis({
    ...options,
    storeClient: redis.client('command'),
    keyPrefix: rateLimitKeyPrefix(redis.config.keyPrefix),
    // A user over the limit is refused from memory until the window ends: a flood costs no Redis.
    inMemoryBlockOnConsumed: RATE_LIMIT_POINTS,
    // While Redis is unreachable each process limits on its own rather than refusing everyone.
    insuranceLimiter: new RateLimiterMemory(options),
  });
}

@Injectable()
export class ChatRateLimiter {
  private readonly typing = new RateLimiterMemory({ points: TYPING_RELAYS_PER_SECOND, duration: 1 });

  constructor(@Inject(EVENT_LIMITER) private readonly limiter: RateLimiterAbstract) {}

  /** Takes one point for `userId`, or fails with RATE_LIMITED saying when to retry. */
  async consume(userId: string): Promise<void> {
    try {
      await this.limiter.consume(userId);
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      const seconds = Math.ceil(rejection.msBeforeNext / 1000);
      throw new ChatError('RATE_LIMITED', `Too many events; retry in ${seconds} s`);
    }
  }

  /** Whether this `typing` event may be relayed; false once the user's budget for the conversation is spent. */
  async allowTyping(userId: string, conversationId: string): Promise<boolean> {
    try {
      await this.typing.consume(`${userId}\n${conversationId}`);
      return true;
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) return false;
      throw rejection;
    }
  }
}
