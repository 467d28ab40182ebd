import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import { adapterKey } from './redis-keys.js';
import type { RedisManager } from './redis.manager.js';

/** What `Server.adapter()` takes: a Socket.IO adapter class for each namespace. */
export type SocketIoAdapterConstructor =
  ReturnType<typeof createAdapter> | ReturnType<typeof createShardedAdapter>;

/** The Redis adapter over RedisManager's clients (sharded in cluster mode); undefined with Redis off. */
export function socketIoRedisAdapter(redis: RedisManager): SocketIoAdapterConstructor | undefined {
  if (!redis.enabled) return undefined;
  const pub = redis.client('publisher');
  const sub = redis.client('subscriber');
  const channelPrefix = adapterKey(redis.config.keyPrefix);
  return redis.config.mode === 'cluster'
    ? createShardedAdapter(pub, sub, { channelPrefix })
    : createAdapter(pub, sub, { key: channelPrefix });
}
