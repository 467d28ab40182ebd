import { Global, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { RedisHealthIndicator } from './redis.health.js';
import { RedisManager } from './redis.manager.js';

@Global()
@Module({
  imports: [TerminusModule],
  providers: [RedisManager, RedisHealthIndicator],
  exports: [RedisManager, RedisHealthIndicator],
})
export class RedisModule {}
