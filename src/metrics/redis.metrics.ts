import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { type RedisRole, observeCommands } from '../redis/redis-client.factory.js';
import { RedisManager } from '../redis/redis.manager.js';

const ROLES: Record<RedisRole, true> = { command: true, publisher: true, subscriber: true };

/** The Redis clients by role: command latency and failures, and readiness read at scrape time. */
@Injectable()
export class RedisMetrics {
  readonly commandDuration: Histogram<'role'>;
  readonly commandErrors: Counter<'role'>;
  readonly clientReady: Gauge<'role'>;

  constructor(registry: Registry, redis: RedisManager) {
    const registers = [registry];
    const roles = Object.keys(ROLES) as RedisRole[];
    this.commandDuration = new Histogram({
      name: 'redis_command_duration_seconds',
      help: 'Redis commands from being sent (or queued while disconnected) to their reply or failure, by client role',
      labelNames: ['role'],
      // Command replies take well under a millisecond on a healthy Redis; commands time out at 2 s.
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.commandErrors = new Counter({
      name: 'redis_command_errors_total',
      help: 'Redis commands that failed (error reply, timeout, connection lost), by client role',
      labelNames: ['role'],
      registers,
    });
    this.clientReady = new Gauge({
      name: 'redis_client_ready',
      help: 'Whether the Redis client of each role is connected and ready (1) or not (0)',
      labelNames: ['role'],
      registers,
      collect: () => {
        if (!redis.enabled) return;
        for (const role of roles) this.clientReady.set({ role }, redis.isReady(role) ? 1 : 0);
      },
    });
    if (!redis.enabled) return;
    for (const role of roles) {
      const duration = this.commandDuration.labels(role);
      const errors = this.commandErrors.labels(role);
      observeCommands(redis.client(role), (seconds, failed) => {
        duration.observe(seconds);
        if (failed) errors.inc();
      });
    }
  }
}
