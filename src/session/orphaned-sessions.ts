import type { RedisClient } from '../redis/redis-client.factory.js';
import { scanEach } from '../redis/redis-scan.js';
import { sessionPattern, sessionSweepLockKey, WORKER_TTL_SECONDS, workerKey } from '../redis/redis-keys.js';

/** Sessions younger than this are left alone: their worker may not have registered itself yet. */
const MIN_AGE_MS = 2 * WORKER_TTL_SECONDS * 1000;

/**
 * Deletes the session hashes whose worker is gone (no registry key: it died without closing them, by
 * SIGKILL or OOM), which would otherwise live on for REDIS_SESSION_TTL and inflate every session count.
 * Only the worker that wins `lockMs` of the sweep lock runs it; returns how many it deleted.
 */
export async function sweepOrphanedSessions(
  client: RedisClient,
  prefix: string,
  { lockMs, now = Date.now() }: { lockMs: number; now?: number },
): Promise<number> {
  if ((await client.set(sessionSweepLockKey(prefix), String(process.pid), 'PX', lockMs, 'NX')) !== 'OK')
    return 0;
  let deleted = 0;
  await scanEach(client, sessionPattern(prefix), async (keys, node) => {
    // One round trip per SCAN batch: the keys of a batch come from one node, where HMGET can run.
    const pipeline = node.pipeline();
    for (const key of keys) pipeline.hmget(key, 'instance', 'pid', 'connectedAt');
    const records = ((await pipeline.exec()) ?? []).map(([, value]) => value as (string | null)[]);
    const workers = new Map<string, boolean>();
    for (const [instance, pid] of records)
      if (instance && pid) workers.set(workerKey(prefix, instance, pid), true);
    await Promise.all(
      [...workers.keys()].map(async (key) => workers.set(key, (await client.exists(key)) === 1)),
    );
    const orphans = keys.filter((_, i) => {
      const [instance, pid, connectedAt] = records[i] ?? [];
      if (!instance || !pid || !connectedAt) return false;
      return !workers.get(workerKey(prefix, instance, pid)) && now - Date.parse(connectedAt) > MIN_AGE_MS;
    });
    // Each key alone: in a cluster they may sit in different slots.
    for (const key of orphans) deleted += await client.del(key);
  });
  return deleted;
}
