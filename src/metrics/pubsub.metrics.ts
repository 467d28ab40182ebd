import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { PubsubCanary } from '../redis/pubsub-canary.js';
import { RedisManager } from '../redis/redis.manager.js';

/** The pub/sub canary; subscribers fewer than registered workers means a deaf worker. */
@Injectable()
export class PubsubMetrics {
  constructor(registry: Registry, redis: RedisManager, canary: PubsubCanary) {
    const registers = [registry];
    const roundTrip = new Histogram({
      name: 'redis_pubsub_canary_seconds',
      help: 'Round trip of the canary this worker sends itself through the Socket.IO adapter channels',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3],
      registers,
    });
    const misses = new Counter({
      name: 'redis_pubsub_canary_misses_total',
      help: 'Canaries that did not come back in time: the subscriber was deaf and has been reconnected',
      registers,
    });
    const healthy = new Gauge({
      name: 'redis_pubsub_healthy',
      help: 'Whether this worker hears its canary (1) or redis_pubsub is down (0)',
      registers,
      collect: () => {
        if (redis.enabled) healthy.set(canary.status.healthy ? 1 : 0);
      },
    });
    const subscribers = new Gauge({
      name: 'redis_pubsub_adapter_subscribers',
      help: "PUBSUB NUMSUB (SHARDNUMSUB in cluster mode) of the adapter's channel, as last counted",
      registers,
      collect: () => {
        const { subscribers: count } = canary.status;
        if (count !== undefined) subscribers.set(count);
      },
    });
    const expected = new Gauge({
      name: 'redis_pubsub_registered_workers',
      help: 'Live workers in the Redis worker registry, as last counted: the subscribers there should be',
      registers,
      collect: () => {
        const { expectedWorkers } = canary.status;
        if (expectedWorkers !== undefined) expected.set(expectedWorkers);
      },
    });
    canary.onResult((rttMs) => {
      if (rttMs === undefined) misses.inc();
      else roundTrip.observe(rttMs / 1000);
    });
  }
}
