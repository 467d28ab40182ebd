import { Cluster, type Redis } from 'ioredis';
import type { RedisClient } from './redis-client.factory.js';
import { adapterRequestChannel, adapterShardChannel } from './redis-keys.js';

/** The nodes that hold keys: each master of a cluster, else the one server. */
export function keyNodes(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

/** Walks `pattern` with SCAN (never KEYS) on every key node; calls `onKeys` per non-empty batch. */
export async function scanEach(
  client: RedisClient,
  pattern: string,
  onKeys: (keys: string[], node: Redis) => Promise<void> | void,
): Promise<void> {
  for (const node of keyNodes(client)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      if (keys.length > 0) await onKeys(keys, node);
      cursor = next;
    } while (cursor !== '0');
  }
}

/** How many keys match `pattern`, over every key node (SCAN). */
export async function countKeys(client: RedisClient, pattern: string): Promise<number> {
  let total = 0;
  await scanEach(client, pattern, (keys) => {
    total += keys.length;
  });
  return total;
}

/** Subscribers of the adapter's request channel (one per worker), summed over `nodes`. */
export async function countAdapterSubscribers(
  client: RedisClient,
  prefix: string,
  nodes: Redis[],
): Promise<number> {
  const sharded = client instanceof Cluster;
  const channel = sharded ? adapterShardChannel(prefix) : adapterRequestChannel(prefix);
  const counts = await Promise.all(
    nodes.map(async (node) => {
      const reply = (await node.call('PUBSUB', sharded ? 'SHARDNUMSUB' : 'NUMSUB', channel)) as unknown[];
      return Number(reply[1]) || 0;
    }),
  );
  return counts.reduce((total, count) => total + count, 0);
}
