import { spawnSync } from 'node:child_process';
import { waitFor } from './ports.js';
import { RedisServer } from './redis-server.js';

/**
 * A real Redis Cluster on loopback: `masters * (1 + replicas)` cluster-enabled redis-servers joined by
 * `redis-cli --cluster create`, resolved once every slot is served and every replica attached.
 * `nodeTimeoutMs` is how long a silent master takes to be failed over.
 */
export async function startRedisCluster(
  dir: string,
  { masters = 3, replicas = 0, nodeTimeoutMs = 15_000 } = {},
): Promise<RedisServer[]> {
  const nodes = await Promise.all(
    Array.from({ length: masters * (1 + replicas) }, (_, index) =>
      RedisServer.start({
        args: [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${index}.conf`,
          '--cluster-node-timeout',
          String(nodeTimeoutMs),
          '--dir',
          dir,
        ],
      }),
    ),
  );
  const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
  const created = spawnSync(
    'redis-cli',
    ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes'],
    { encoding: 'utf8' },
  );
  if (created.error)
    throw new Error(
      `redis-cli (shipped with redis-server) is needed to form the cluster: ${created.error.message}`,
    );
  if (created.status !== 0)
    throw new Error(`redis-cli --cluster create failed:\n${created.stdout}${created.stderr}`);
  const probe = nodes[0].client();
  try {
    await waitFor(
      async () => {
        const info = (await probe.call('CLUSTER', 'INFO')) as string;
        const lines = ((await probe.call('CLUSTER', 'NODES')) as string).trim().split('\n');
        return (
          info.includes('cluster_state:ok') &&
          lines.filter((l) => l.includes('slave')).length === masters * replicas
        );
      },
      { timeoutMs: 30_000, what: `a cluster of ${masters} masters with ${replicas} replica(s) each` },
    );
  } finally {
    probe.disconnect();
  }
  return nodes;
}
