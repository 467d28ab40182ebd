import { Injectable } from '@nestjs/common';
import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import { RedisManager } from '../redis/redis.manager.js';
import { ChatError } from './chat.error.js';
import { rateLimitKeyPrefix } from '../redis/redis-keys.js';

/**
 * Events a user may send per window, all sockets, workers and pods together. Generous for a human
 * (a message every 300 ms for 30 s) and for retries; tight enough that one client cannot flood a room.
 */
export const RATE_LIMIT_POINTS = 100;
export const RATE_LIMIT_WINDOW_SECONDS = 30;

/** The per-user rate limit, counted in Redis when it is on (in memory otherwise). */
@Injectable()
export class ChatRateLimiter {
  private readonly limiter: RateLimiterAbstract;

  constructor(redis: RedisManager) {
    const options = { points: RATE_LIMIT_POINTS, duration: RATE_LIMIT_WINDOW_SECONDS };
    this.limiter = redis.enabled
      ? new RateLimiterRedis({
          ...options,
          storeClient: redis.client('command'),
          keyPrefix: rateLimitKeyPrefix(redis.config.keyPrefix),
          // While Redis is unreachable each process limits on its own rather than refusing everyone.
          insuranceLimiter: new RateLimiterMemory(options),
        })
      : new RateLimiterMemory(options);
  }

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
}
