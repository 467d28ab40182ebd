import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collect, request, TEST_JWT_SECRET } from './support/chat-client.js';
import { ChatLoad } from './support/chat-load.js';
import { sleep, waitFor } from './support/ports.js';
import { MASTER_NAME, SentinelGroup } from './support/sentinel-group.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

/**
 * REDIS_MODE=sentinel through a real failover: the master SIGKILLed while 200 clients chat across 4
 * workers. Readiness goes down and comes back, nothing acknowledged is lost or stored twice, and every
 * client chats again within 15 s of the promotion. The gaps are printed.
 */
const CLIENTS = 200;
const RECOVERY_LIMIT_MS = 15_000;

const dir = mkdtempSync(join(tmpdir(), 'chat-sentinel-'));
let group: SentinelGroup;
let service: ServiceProcess;
let load: ChatLoad | undefined;

beforeAll(async () => {
  group = await SentinelGroup.start(dir);
  service = await ServiceProcess.launch({
    WORKERS: '4',
    REDIS_ENABLED: 'true',
    REDIS_MODE: 'sentinel',
    REDIS_SENTINELS: group.sentinelList,
    REDIS_SENTINEL_NAME: MASTER_NAME,
    REDIS_KEY_PREFIX: 'failover',
    JWT_SECRET: TEST_JWT_SECRET,
    ASSISTANT_ENABLED: 'false',
  });
  await waitFor(async () => service.alive && (await service.get('/api/ready')).status === 200, {
    timeoutMs: 60_000,
    what: 'ready',
  });
}, 90_000);

afterAll(async () => {
  load?.close();
  await stopAllServices();
  await group.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('the master SIGKILLed under 200 chatting clients: promoted replica, readiness back, nothing acknowledged lost', async () => {
  load = await ChatLoad.start({
    baseUrls: [service.baseUrl],
    clients: CLIENTS,
    roomSize: 10,
    sendIntervalMs: 3000,
    userPrefix: 'sentinel',
  });
  const readiness: { at: number; status: number }[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const status = await service.get('/api/ready').then(
        (answer) => answer.status,
        () => 0,
      );
      readiness.push({ at: Date.now(), status });
      await sleep(250);
    }
  })();

  load.startSending(3000);
  await sleep(5000);
  const oldMaster = group.master.port;
  const killedAt = Date.now();
  await group.master.kill();
  const promotedAt = await waitFor(
    async () => {
      const port = await group.masterPort();
      return port !== undefined && port !== oldMaster ? Date.now() : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100, what: 'the replica promoted' },
  );
  expect(await group.masterPort()).toBe(group.replica.port);

  // Every client has an acknowledgement for a send begun after the promotion, within the limit.
  const recovery = await waitFor(
    () => {
      const firsts = load!.clients.map((c) => c.acks.find((ack) => ack.sentAt >= promotedAt)?.ackedAt);
      return firsts.every((at) => at !== undefined) ? firsts.map((at) => at! - promotedAt) : undefined;
    },
    { timeoutMs: RECOVERY_LIMIT_MS + 10_000, intervalMs: 200, what: 'every client chatting again' },
  );
  await sleep(2000);
  await load.stopSending();
  polling = false;
  await poller;

  // Broadcasts cross the workers again: the adapter subscribed anew on the promoted master.
  const room = load.clients.slice(0, 10);
  const inboxes = room.map((client) => collect<{ content: string }>(client.socket, 'message:new'));
  await request(room[0].socket, 'message:send', {
    conversationId: room[0].conversationId,
    content: 'after failover',
  });
  await waitFor(() => inboxes.every((inbox) => inbox.some((m) => m.content === 'after failover')), {
    what: 'the message on all 10 members, across workers',
  });

  const down = readiness.find((r) => r.at > killedAt && r.status !== 200);
  const backUp = readiness.find((r) => down && r.at > down.at && r.status === 200);
  const result = await load.verify();
  const longestGap = Math.max(
    ...load.clients.map((client) => {
      const before = client.acks.filter((a) => a.ackedAt <= killedAt).at(-1)?.ackedAt ?? killedAt;
      const after = client.acks.find((a) => a.ackedAt > killedAt)?.ackedAt ?? Infinity;
      return after - before;
    }),
  );
  console.log(
    [
      `Sentinel failover with ${CLIENTS} clients on 4 workers:`,
      `  master killed -> replica promoted: ${promotedAt - killedAt} ms`,
      `  readiness: 503 at +${down ? down.at - killedAt : '?'} ms, 200 again at +${backUp ? backUp.at - killedAt : '?'} ms`,
      `  promotion -> every client acknowledged again: max ${Math.max(...recovery)} ms, median ${recovery.sort((a, b) => a - b)[recovery.length >> 1]} ms`,
      `  longest gap between two acknowledgements of one client: ${longestGap} ms`,
      `  acknowledged ${result.acked}, missing ${result.missing.length}, stored twice ${result.duplicates.length}, failed attempts ${load.clients.reduce((n, c) => n + c.failures, 0)}`,
    ].join('\n'),
  );

  expect(down).toBeDefined();
  expect(backUp).toBeDefined();
  expect(Math.max(...recovery)).toBeLessThanOrEqual(RECOVERY_LIMIT_MS);
  expect(result.missing).toEqual([]);
  expect(result.duplicates).toEqual([]);
  expect(result.acked).toBeGreaterThan(CLIENTS * 2);
}, 180_000);
