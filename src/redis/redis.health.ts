import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { ProbeFailure, timedProbe } from '../common/timed-probe.js';
import { type CanaryStatus, PubsubCanary } from './pubsub-canary.js';
import { RedisManager } from './redis.manager.js';

@Injectable()
export class RedisHealthIndicator {
  constructor(
    private readonly health: HealthIndicatorService,
    private readonly redis: RedisManager,
    private readonly canary: PubsubCanary,
  ) {}

  /** `redis`: the command connection answers PING. */
  command() {
    return timedProbe(this.health, 'redis', async () => {
      if (!this.redis.isReady('command'))
        throw new ProbeFailure(`command client is ${this.redis.client('command').status}`);
      await this.redis.client('command').ping();
    });
  }

  /** `redis_pubsub`: publisher and subscriber up AND the last canary came back. */
  pubsub() {
    return timedProbe(this.health, 'redis_pubsub', async () => {
      const problem = this.canary.problem();
      if (problem) throw new ProbeFailure(problem);
      return describeCanary(this.canary.status);
    });
  }
}

/** e.g. `canary 0.8 ms; 4 adapter subscribers for 4 registered workers` (operators read it in /api/ready). */
function describeCanary({ lastRttMs, subscribers, expectedWorkers }: CanaryStatus): string | undefined {
  const parts: string[] = [];
  if (lastRttMs !== undefined) parts.push(`canary ${lastRttMs} ms`);
  if (subscribers !== undefined && expectedWorkers !== undefined)
    parts.push(`${subscribers} adapter subscribers for ${expectedWorkers} registered workers`);
  return parts.length > 0 ? parts.join('; ') : undefined;
}
