import { Module } from '@nestjs/common';
import { RedisManager } from '../redis/redis.manager.js';
import { MemorySessionStore } from './memory-session.store.js';
import { RedisSessionStore } from './redis-session.store.js';
import { SessionStore } from './session.store.js';

@Module({
  providers: [
    {
      provide: SessionStore,
      inject: [RedisManager],
      useFactory: (redis: RedisManager) =>
        redis.enabled ? new RedisSessionStore(redis) : new MemorySessionStore(),
    },
  ],
  exports: [SessionStore],
})
export class SessionModule {}
