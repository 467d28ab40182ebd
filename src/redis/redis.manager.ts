import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig, RedisConfig } from '../config/app-config.js';
import {
  createRedisClient,
  quitOrDisconnect,
  type RedisClient,
  type RedisRole,
  watchClientState,
} from './redis-client.factory.js';
import { describeRedisTarget } from './redis-url.js';

interface OwnedClient {
  client: RedisClient;
  watcher: { stop(): void };
}

/** Owns and alone closes every Redis connection of this process; others borrow (0006). */
@Injectable()
export class RedisManager implements OnApplicationShutdown {
  private readonly logger = new Logger('Redis');
  private readonly owned = new Map<RedisRole, OwnedClient>();
  readonly config: RedisConfig;

  constructor(configService: ConfigService<AppConfig, true>) {
    this.config = configService.get('redis', { infer: true });
    if (!this.config.enabled) {
      this.logger.warn(
        'REDIS_ENABLED=false: in-memory Socket.IO adapter and session store. This mode is SINGLE-WORKER ONLY: ' +
          'more workers or pods would each keep their own rooms and sessions. Set REDIS_ENABLED=true for production.',
      );
      return;
    }
    for (const role of ['command', 'publisher', 'subscriber'] as const) {
      const client = createRedisClient(this.config, role);
      this.owned.set(role, { client, watcher: watchClientState(client, role, this.logger) });
    }
    this.logger.log(`Redis manager initialized: ${describeRedisTarget(this.config)}`);
  }

  get enabled(): boolean {
    return this.config.enabled;
  }

  /** The client for `role`. Only call when `enabled`; borrowers must never close it. */
  client(role: RedisRole): RedisClient {
    const owned = this.owned.get(role);
    if (!owned) throw new Error(`Redis is disabled (REDIS_ENABLED=false): no ${role} client`);
    return owned.client;
  }

  isReady(role: RedisRole): boolean {
    return this.owned.get(role)?.client.status === 'ready';
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.owned.values()].map((owned) => this.close(owned)));
    this.owned.clear();
  }

  private async close({ client, watcher }: OwnedClient): Promise<void> {
    watcher.stop();
    await quitOrDisconnect(client, (error) =>
      this.logger.warn(`Redis QUIT failed (${error.message}); connection dropped`),
    );
  }
}
