import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './ports.js';
import { RedisServer } from './redis-server.js';

export const MASTER_NAME = 'mymaster';

/**
 * A real Sentinel deployment on loopback: one master, one replica and three sentinels with a quorum of
 * 2, tuned to fail over in seconds (down after 1 s). Each sentinel owns a config file in `dir`, which
 * it rewrites as Sentinel does.
 */
export class SentinelGroup {
  private constructor(
    readonly master: RedisServer,
    readonly replica: RedisServer,
    readonly sentinels: RedisServer[],
  ) {}

  static async start(dir: string): Promise<SentinelGroup> {
    const master = await RedisServer.start();
    const replica = await RedisServer.start({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
    const sentinels = await Promise.all(
      [0, 1, 2].map((index) => {
        const file = join(dir, `sentinel-${index}.conf`);
        writeFileSync(
          file,
          [
            `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master.port} 2`,
            `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
            `sentinel failover-timeout ${MASTER_NAME} 5000`,
            `sentinel parallel-syncs ${MASTER_NAME} 1`,
          ].join('\n') + '\n',
        );
        return RedisServer.start({ configFile: file, args: ['--sentinel'] });
      }),
    );
    const group = new SentinelGroup(master, replica, sentinels);
    await group.waitUntilFormed();
    return group;
  }

  get sentinelList(): string {
    return this.sentinels.map((sentinel) => `127.0.0.1:${sentinel.port}`).join(',');
  }

  /** The master's port as the first sentinel that answers says. */
  async masterPort(): Promise<number | undefined> {
    for (const sentinel of this.sentinels) {
      const client = sentinel.client();
      try {
        const [, port] = (await client.call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME)) as string[];
        return Number(port);
      } catch {
        // Try the next one.
      } finally {
        client.disconnect();
      }
    }
    return undefined;
  }

  /** Every sentinel knows the other two and the replica, and the replica is in sync: a failover can run. */
  private async waitUntilFormed(): Promise<void> {
    await waitFor(
      async () => {
        const replica = this.replica.client();
        try {
          if (!(await replica.info('replication')).includes('master_link_status:up')) return false;
        } finally {
          replica.disconnect();
        }
        for (const sentinel of this.sentinels) {
          const client = sentinel.client();
          try {
            const fields = (await client.call('SENTINEL', 'master', MASTER_NAME)) as string[];
            const info = Object.fromEntries(fields.flatMap((v, i) => (i % 2 ? [] : [[v, fields[i + 1]]])));
            if (info['num-other-sentinels'] !== '2' || info['num-slaves'] !== '1') return false;
          } finally {
            client.disconnect();
          }
        }
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'the sentinels to discover each other and the replica' },
    );
  }

  async stop(): Promise<void> {
    await Promise.all([this.master, this.replica, ...this.sentinels].map((server) => server.stop()));
  }
}
