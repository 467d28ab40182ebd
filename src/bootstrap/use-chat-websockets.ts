import type { INestApplication } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { RedisIoAdapter } from './redis-io.adapter.js';
import type { AppConfig } from '../config/app-config.js';
import { RedisManager } from '../redis/redis.manager.js';
import { socketIoRedisAdapter } from '../redis/socket-io-redis-adapter.js';

/**
 * Runs the application's Socket.IO on the chat's adapter (before `listen`): the Redis adapter across
 * processes, the handshake's Origin check against CORS_ORIGINS, the frame and connect limits.
 */
export function useChatWebSockets(app: INestApplication): void {
  const origins = app.get(ConfigService<AppConfig, true>).get('security', { infer: true }).corsOrigins;
  app.useWebSocketAdapter(new RedisIoAdapter(app, socketIoRedisAdapter(app.get(RedisManager)), origins));
}
