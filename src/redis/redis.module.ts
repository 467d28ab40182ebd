import { Global, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { RedisHealthIndicator } from './redis.health.js';
import { PubsubCanary } from './pubsub-canary.js';
import { RedisManager } from './redis.manager.js';

@Global()
@Module({
  imports: [TerminusModule],
  providers: [RedisManager, RedisHealthIndicator, PubsubCanary],
  exports: [RedisManager, RedisHealthIndicator, PubsubCanary],
})
export class RedisModule {}
