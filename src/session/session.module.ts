import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/app-config.js';
import { RedisManager } from '../redis/redis.manager.js';
import { MAX_SOCKETS_PER_USER, MemorySessionStore } from './memory-session.store.js';
import { RedisSessionStore } from './redis-session.store.js';
import { SessionStore } from './session.store.js';

@Module({
  providers: [
    {
      provide: MAX_SOCKETS_PER_USER,
      inject: [ConfigService],
      useFactory: (config: ConfigService<AppConfig, true>) =>
        config.get('security', { infer: true }).maxConnectionsPerUser,
    },
    {
      provide: SessionStore,
      inject: [RedisManager, MAX_SOCKETS_PER_USER],
      useFactory: (redis: RedisManager, maxPerUser: number) =>
        redis.enabled ? new RedisSessionStore(redis, maxPerUser) : new MemorySessionStore(maxPerUser),
    },
  ],
  exports: [SessionStore],
})
export class SessionModule {}
