import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import calculateSlot from 'cluster-key-slot';
import type { ReadinessReport } from '../src/health/readiness-report.js';
import { roomOf } from '../src/chat/chat.events.js';
import { adapterShardChannel } from '../src/redis/redis-keys.js';
import { collect, request, TEST_JWT_SECRET } from './support/chat-client.js';
import { ChatLoad } from './support/chat-load.js';
import { sleep, waitFor } from './support/ports.js';
import { startRedisCluster } from './support/redis-cluster.js';
import type { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

/**
 * A lost Cluster shard: three masters with a replica each, two instances of the service chatting through
 * sharded pub/sub, one master SIGKILLed. Its replica takes over, each instance's canary notices the
 * silent shard and recovers, and nothing acknowledged is lost. The gap is printed.
 */
const PREFIX = 'shardloss';
const dir = mkdtempSync(join(tmpdir(), 'chat-cluster-failover-'));
let nodes: RedisServer[];
const instances: ServiceProcess[] = [];
let load: ChatLoad | undefined;

function clusterNodes(probe: RedisServer): Promise<string[]> {
  const client = probe.client();
  return (client.call('CLUSTER', 'NODES') as Promise<string>)
    .then((text) => text.trim().split('\n'))
    .finally(() => client.disconnect());
}

beforeAll(async () => {
  nodes = await startRedisCluster(dir, { replicas: 1, nodeTimeoutMs: 1000 });
  const env = {
    WORKERS: '2',
    REDIS_ENABLED: 'true',
    REDIS_MODE: 'cluster',
    REDIS_CLUSTER_NODES: nodes.map((n) => `127.0.0.1:${n.port}`).join(','),
    REDIS_KEY_PREFIX: PREFIX,
    JWT_SECRET: TEST_JWT_SECRET,
    ASSISTANT_ENABLED: 'false',
    DATABASE_URL: `sqlite:${join(dir, 'chat.db')}`,
  };
  instances.push(await ServiceProcess.launch(env), await ServiceProcess.launch(env));
  for (const instance of instances)
    await waitFor(async () => instance.alive && (await instance.get('/api/ready')).status === 200, {
      timeoutMs: 60_000,
      what: 'an instance ready',
    });
}, 120_000);

afterAll(async () => {
  load?.close();
  await stopAllServices();
  await Promise.all(nodes.map((node) => node.stop()));
  rmSync(dir, { recursive: true, force: true });
});

it('a master SIGKILLed: its replica takes over, the canaries recover, no acknowledged message lost', async () => {
  load = await ChatLoad.start({
    baseUrls: instances.map((i) => i.baseUrl),
    clients: 60,
    roomSize: 10,
    sendIntervalMs: 2000,
    userPrefix: 'shard',
  });
  load.startSending(2000);
  await sleep(4000);

  // The master owning the most rooms' channels (sharded pub/sub: a channel per room, on its slot's
  // shard), and its replica. CLUSTER NODES fields: id address flags master-id … slot ranges.
  const topology = (await clusterNodes(nodes[0])).map((line) => line.split(' '));
  const owns = (ranges: string[], slot: number) =>
    ranges.some((range) => {
      const [from, to = from] = range.split('-').map(Number);
      return slot >= from && slot <= to;
    });
  const roomSlots = [...new Set(load.clients.map((c) => c.conversationId))].map((id) =>
    calculateSlot(`${adapterShardChannel(PREFIX)}${roomOf(id)}#`),
  );
  const masters = topology.filter(([, , flags]) => flags.includes('master'));
  const roomsOf = (fields: string[]) => roomSlots.filter((slot) => owns(fields.slice(8), slot)).length;
  const [victimId, victimAddress] = masters.sort((a, b) => roomsOf(b) - roomsOf(a))[0];
  const roomsOnVictim = roomsOf(masters[0]);
  expect(roomsOnVictim).toBeGreaterThan(0);
  const replicaId = topology.find(
    ([, , flags, masterId]) => flags.includes('slave') && masterId === victimId,
  )![0];
  const victim = nodes.find((n) => victimAddress.startsWith(`127.0.0.1:${n.port}@`))!;
  const survivor = nodes.find((n) => n !== victim)!;
  const outputBefore = instances.map((i) => i.output.length);
  const killedAt = Date.now();
  await victim.kill();
  const promotedAt = await waitFor(
    async () => {
      const replica = (await clusterNodes(survivor))
        .map((l) => l.split(' '))
        .find(([id]) => id === replicaId);
      return replica?.[2].includes('master') && !replica[2].includes('fail') ? Date.now() : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100, what: "the dead master's replica promoted" },
  );

  // Each instance's readiness went down (a silent shard) or stayed up, and is up again with its canary.
  await waitFor(
    async () => {
      const answers = await Promise.all(instances.map((i) => i.get<ReadinessReport>('/api/ready')));
      return answers.every(
        (a) => a.status === 200 && /^canary /.test(a.body.details.redis_pubsub?.message ?? ''),
      );
    },
    {
      timeoutMs: 60_000,
      intervalMs: 500,
      what: 'both instances ready, their canaries back from every shard',
    },
  );
  const readyAt = Date.now();
  // What each instance's canary said about the lost shard (it may also never have missed a beat).
  const canaryLines = instances.map((instance, i) =>
    instance.output
      .slice(outputBefore[i])
      .split('\n')
      .filter((line) => /canary|Re-establishing/.test(line))
      .map((line) => /"msg":"([^"]+)"/.exec(line)?.[1] ?? line),
  );
  await sleep(3000);
  await load.stopSending();

  // Every room delivers across the instances again (members alternate between them).
  for (let first = 0; first < load.clients.length; first += 10) {
    const room = load.clients.slice(first, first + 10);
    const inboxes = room.map((c) => collect<{ content: string }>(c.socket, 'message:new'));
    const content = `after the shard loss ${first}`;
    await request(room[1].socket, 'message:send', { conversationId: room[1].conversationId, content });
    await waitFor(() => inboxes.every((inbox) => inbox.some((m) => m.content === content)), {
      what: `room ${first / 10} delivering on both instances`,
    });
  }
  const result = await load.verify();
  const longestGap = Math.max(
    ...load.clients.map((client) => {
      const before = client.acks.filter((a) => a.ackedAt <= killedAt).at(-1)?.ackedAt ?? killedAt;
      return (client.acks.find((a) => a.ackedAt > killedAt)?.ackedAt ?? Infinity) - before;
    }),
  );
  console.log(
    [
      'Cluster shard loss (3 masters + 3 replicas, 2 instances of 2 workers, 60 clients):',
      `  the killed master carried ${roomsOnVictim} of ${roomSlots.length} rooms' channels`,
      `  master killed -> replica promoted: ${promotedAt - killedAt} ms`,
      `  -> both instances ready with canaries back from every shard: ${readyAt - killedAt} ms`,
      `  longest gap between two acknowledgements of one client: ${longestGap} ms`,
      ...canaryLines.map(
        (lines, i) => `  instance ${i + 1} canary: ${[...new Set(lines)].join(' | ') || 'no miss'}`,
      ),
      `  acknowledged ${result.acked}, missing ${result.missing.length}, stored twice ${result.duplicates.length}, failed attempts ${load.clients.reduce((n, c) => n + c.failures, 0)}`,
    ].join('\n'),
  );
  expect(result.missing).toEqual([]);
  expect(result.duplicates).toEqual([]);
  expect(longestGap).toBeLessThan(60_000);
}, 180_000);
