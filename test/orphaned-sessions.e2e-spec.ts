import type { Redis } from 'ioredis';
import { sessionKey, workerKey } from '../src/redis/redis-keys.js';
import { sweepOrphanedSessions } from '../src/session/orphaned-sessions.js';
import { RedisServer } from './support/redis-server.js';

/**
 * The sweep of session hashes left by dead workers, on a real redis-server: a hash whose worker has no
 * registry entry (it died without closing its sockets) goes; a live worker's, a young one and one the
 * sweep cannot read stay; one worker sweeps per period (the lock).
 */
const PREFIX = 'orphans-test';
let server: RedisServer;
let client: Redis;

beforeAll(async () => {
  server = await RedisServer.start();
  client = server.client();
});

afterAll(async () => {
  await client.quit();
  await server.stop();
});

it('deletes only the old session hashes of workers without a registry entry, once per lock period', async () => {
  const now = Date.now();
  const old = new Date(now - 120_000).toISOString();
  const young = new Date(now - 1_000).toISOString();
  await client.hset(workerKey(PREFIX, 'host-a', 100), { pid: '100', instance: 'host-a' });
  const session = (sid: string, pid: string, connectedAt: string) =>
    client.hset(sessionKey(PREFIX, sid), { userId: 'u', instance: 'host-a', pid, connectedAt });
  await session('live-worker', '100', old);
  await session('same-pid-other-host', '100', old);
  await client.hset(sessionKey(PREFIX, 'same-pid-other-host'), 'instance', 'host-b');
  for (let i = 0; i < 1200; i++) await session(`dead-${i}`, '200', old); // several SCAN batches
  await session('dead-but-young', '200', young);
  await client.hset(sessionKey(PREFIX, 'unreadable'), { userId: 'u' });

  expect(await sweepOrphanedSessions(client, PREFIX, { lockMs: 60_000, now })).toBe(1201);
  const left = (await client.keys(`${PREFIX}:session:*`)).map((key) => key.split(':').at(-1)).sort();
  expect(left).toEqual(['dead-but-young', 'live-worker', 'unreadable']);

  // Another worker in the same period finds the lock taken and does nothing.
  await session('dead-again', '200', old);
  expect(await sweepOrphanedSessions(client, PREFIX, { lockMs: 60_000, now })).toBe(0);
  expect(await client.exists(sessionKey(PREFIX, 'dead-again'))).toBe(1);
  expect(await client.pttl(`${PREFIX}:session-sweep`)).toBeGreaterThan(0);
});
