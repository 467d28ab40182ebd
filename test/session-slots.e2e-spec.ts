import { Redis } from 'ioredis';
import type { RedisManager } from '../src/redis/redis.manager.js';
import { RedisSessionStore } from '../src/session/redis-session.store.js';
import { RedisServer } from './support/redis-server.js';

/**
 * The per-user socket slots on a real redis-server, through the store's own code: the periodic
 * refresh moves every live slot's lapse forward in one ZADD per user, and never brings back a slot
 * that was given back. The manager is a stand-in holding one real client.
 */
describe('RedisSessionStore socket slots (real redis-server)', () => {
  let server: RedisServer;
  let client: Redis;
  let store: RedisSessionStore;
  const key = 'slots-test:user-sockets:alice';

  beforeAll(async () => {
    server = await RedisServer.start();
    client = server.client();
    const manager = {
      config: { keyPrefix: 'slots-test', sessionTtlSeconds: 3600 },
      client: () => client,
    } as unknown as RedisManager;
    store = new RedisSessionStore(manager, 3);
  });

  afterAll(async () => {
    store.onModuleDestroy();
    await client.quit();
    await server.stop();
  });

  it('refreshes every live slot of a user at once, and leaves a given-back slot given back', async () => {
    expect(await store.admit('alice', 'sid-1')).toBe(true);
    expect(await store.admit('alice', 'sid-2')).toBe(true);
    expect(await store.admit('alice', 'sid-3')).toBe(true);
    expect(await store.admit('alice', 'sid-4')).toBe(false); // the cap is 3
    // sid-3's slot is given back in Redis while this process still holds it (as after a close elsewhere).
    await client.zrem(key, 'sid-3');
    const before = Number(await client.zscore(key, 'sid-1'));
    await client.pexpire(key, 1_000);
    await new Promise((resolve) => setTimeout(resolve, 20));

    await (store as unknown as { refreshSlots(): Promise<void> }).refreshSlots();

    const after = await client.zrange(key, 0, -1, 'WITHSCORES');
    expect(after.filter((_, i) => i % 2 === 0).sort()).toEqual(['sid-1', 'sid-2']);
    expect(Number(after[1])).toBeGreaterThan(before);
    expect(after[1]).toBe(after[3]); // one ZADD: the same lapse time for both
    expect(await client.pttl(key)).toBeGreaterThan(25_000);
  });
});
