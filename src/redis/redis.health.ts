import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { timedProbe } from '../health/timed-probe.js';
import { RedisManager } from './redis.manager.js';

@Injectable()
export class RedisHealthIndicator {
  constructor(
    private readonly health: HealthIndicatorService,
    private readonly redis: RedisManager,
  ) {}

  /** `redis`: the command connection answers PING. */
  command() {
    return timedProbe(this.health, 'redis', async () => {
      if (!this.redis.isReady('command'))
        throw new Error(`command client is ${this.redis.client('command').status}`);
      await this.redis.client('command').ping();
    });
  }

  /** `redis_pubsub`: the adapter's publisher and subscriber connections are up. */
  pubsub() {
    return timedProbe(this.health, 'redis_pubsub', async () => {
      for (const role of ['publisher', 'subscriber'] as const) {
        if (!this.redis.isReady(role)) throw new Error(`${role} client is ${this.redis.client(role).status}`);
      }
    });
  }
}
