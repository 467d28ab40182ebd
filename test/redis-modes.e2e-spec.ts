import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectDeliveryAcross, TEST_JWT_SECRET } from './support/chat-client.js';
import { waitFor } from './support/ports.js';
import { startRedisCluster } from './support/redis-cluster.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

interface Readiness {
  checks: { redis: boolean };
  multi_worker_support: boolean;
  details: Record<string, { status: string; message?: string }>;
}

async function expectReadyWithRedis(service: ServiceProcess): Promise<void> {
  let last: unknown;
  const ready = await waitFor(
    async () => {
      const answer = await service.get<Readiness>('/api/ready');
      last = answer.body;
      return answer.status === 200 ? answer : undefined;
    },
    // A loaded machine can take a while to elect a sentinel's view of the master and send a canary.
    { timeoutMs: 30_000, what: 'readiness 200' },
  ).catch((error: Error) => {
    throw new Error(`${error.message}; last readiness: ${JSON.stringify(last)}`);
  });
  expect(ready.body.checks.redis).toBe(true);
  expect(ready.body.multi_worker_support).toBe(true);
  expect(ready.body.details.redis_pubsub.status).toBe('up');
}

const dir = mkdtempSync(join(tmpdir(), 'chat-redis-modes-'));
const servers: RedisServer[] = [];

afterAll(async () => {
  await stopAllServices();
  await Promise.all(servers.map((server) => server.stop()));
  rmSync(dir, { recursive: true, force: true });
});

describe('REDIS_MODE=sentinel', () => {
  it('finds the master through a real Redis Sentinel and is ready', async () => {
    const master = await RedisServer.start({ password: 'sentinel-mode-pw' });
    servers.push(master);
    const config = join(dir, 'sentinel.conf');
    writeFileSync(
      config,
      [
        `sentinel monitor mymaster 127.0.0.1 ${master.port} 1`,
        'sentinel auth-pass mymaster sentinel-mode-pw',
        'sentinel down-after-milliseconds mymaster 5000',
      ].join('\n') + '\n',
    );
    const sentinel = await RedisServer.start({ configFile: config, args: ['--sentinel'] });
    servers.push(sentinel);

    const env = {
      REDIS_ENABLED: 'true',
      REDIS_MODE: 'sentinel',
      JWT_SECRET: TEST_JWT_SECRET,
      REDIS_URL: 'redis://:sentinel-mode-pw@ignored-host:1',
      REDIS_SENTINELS: `127.0.0.1:${sentinel.port}`,
      REDIS_SENTINEL_NAME: 'mymaster',
    };
    const service = await ServiceProcess.start(env);
    await expectReadyWithRedis(service);
    expect(service.output).toContain(
      `Redis manager initialized: sentinel://127.0.0.1:${sentinel.port}/mymaster`,
    );
    expect(service.output).not.toContain('sentinel-mode-pw');
    expect((await service.stop()).code).toBe(0);
  });
});

describe('REDIS_MODE=cluster', () => {
  it('connects to a real 3-node Redis Cluster and is ready', async () => {
    const nodes = await startRedisCluster(dir);
    servers.push(...nodes);

    const env = {
      REDIS_ENABLED: 'true',
      REDIS_MODE: 'cluster',
      JWT_SECRET: TEST_JWT_SECRET,
      REDIS_CLUSTER_NODES: nodes.map((n) => `127.0.0.1:${n.port}`).join(','),
    };
    const service = await ServiceProcess.start(env);
    await expectReadyWithRedis(service);
    expect(service.output).toContain('Redis manager initialized: cluster://127.0.0.1:');

    // Two instances deliver across through sharded pub/sub (SSUBSCRIBE on the shard owning the channel).
    const other = await ServiceProcess.start({ ...env, DATABASE_URL: `sqlite:${service.dataDir}/chat.db` });
    await expectReadyWithRedis(other);
    await expectDeliveryAcross(service, other);
    // Each instance's canary came back from every shard (one subscriber connection per shard to prove).
    for (const instance of [service, other])
      await waitFor(
        async () =>
          /^canary /.test(
            (await instance.get<Readiness>('/api/ready')).body.details.redis_pubsub.message ?? '',
          ),
        { timeoutMs: 15_000, what: 'a canary round trip over every shard' },
      );
    const observers = nodes.map((n) => n.client());
    const shardChannels = (await Promise.all(
      observers.map((o) => o.call('PUBSUB', 'SHARDCHANNELS')),
    )) as string[][];
    for (const observer of observers) observer.disconnect();
    expect(shardChannels.flat().length).toBeGreaterThan(0);
    // Every shard carries a canary channel of each instance.
    for (const channels of shardChannels)
      expect(channels.filter((channel) => channel.includes(':canary:'))).toHaveLength(2);
    expect((await other.stop()).code).toBe(0);
    expect((await service.stop()).code).toBe(0);
  });
});
