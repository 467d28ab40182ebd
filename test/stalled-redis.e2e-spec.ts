import type { MessageView } from '../src/conversations/message.view.js';
import type { ReadinessReport } from '../src/health/readiness-report.js';
import {
  type ChatClient,
  TEST_JWT_SECRET,
  collect,
  connectChat,
  request,
  tokenFor,
  workerPidOf,
} from './support/chat-client.js';
import { sleep, waitFor } from './support/ports.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';
import { TcpProxy } from './support/tcp-proxy.js';

/**
 * A stalled Redis: every connection stops forwarding without closing, as in a network partition
 * (nothing refused, nothing reset). Commands must fail in bounded time instead of hanging, readiness
 * and the canary must say so within 30 s, the event loop must keep answering, and everything must
 * recover when the network heals.
 */
const PREFIX = 'stall-e2e';
const STALL_MS = 35_000;

let redis: RedisServer;
let proxy: TcpProxy;
let service: ServiceProcess;
const sockets: ChatClient[] = [];

async function get(port: number, path: string): Promise<{ status: number; body: unknown; ms: number }> {
  const started = performance.now();
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(10_000) });
  const body = (await response.json()) as unknown;
  return { status: response.status, body, ms: performance.now() - started };
}

beforeAll(async () => {
  redis = await RedisServer.start();
  proxy = await TcpProxy.start(redis.port);
  service = await ServiceProcess.start({
    WORKERS: '2',
    REDIS_ENABLED: 'true',
    REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
    REDIS_KEY_PREFIX: PREFIX,
    JWT_SECRET: TEST_JWT_SECRET,
    ASSISTANT_ENABLED: 'false',
  });
  await waitFor(async () => (await service.get('/api/ready')).status === 200, {
    timeoutMs: 60_000,
    what: 'ready',
  });
}, 90_000);

afterAll(async () => {
  for (const socket of sockets) socket.close();
  await stopAllServices();
  await proxy?.stop();
  await redis?.stop();
});

it('a partition of 35 s: bounded failures, readiness down within 30 s, live event loop, full recovery', async () => {
  for (let i = 0; i < 4; i++) sockets.push(await connectChat(service.baseUrl, tokenFor(`stall-${i}`)));
  expect(new Set(await Promise.all(sockets.map((s) => workerPidOf(redis, PREFIX, s)))).size).toBe(2);
  const created = await request<{ conversation: { id: string } }>(sockets[0], 'conversation:create', {
    memberIds: [1, 2, 3].map((i) => `stall-${i}`),
  });
  const conversationId = created.conversation.id;
  for (const socket of sockets) await request(socket, 'conversation:join', { conversationId });
  const ports = [...service.workerPorts().values()];

  // Liveness of each worker, straight to its port, every 100 ms: its event loop must keep answering.
  let probing = true;
  let slowestLiveness = 0;
  const prober = (async () => {
    while (probing) {
      for (const port of ports)
        slowestLiveness = Math.max(slowestLiveness, (await get(port, '/api/health')).ms);
      await sleep(100);
    }
  })();

  const stalledAt = Date.now();
  proxy.stall();
  // A send while Redis is unreachable is answered, whatever the answer, in bounded time.
  const started = Date.now();
  const during = await request<{ ok: boolean; error?: { code: string } }>(
    sockets[1],
    'message:send',
    { conversationId, content: 'sent during the partition', clientMessageId: 'during' },
    15_000,
  );
  const sendMs = Date.now() - started;
  // Each worker's readiness turns 503 with Redis down, every answer within the checks' 2 s bound.
  const readinessMs: number[] = [];
  await waitFor(
    async () => {
      const answers = await Promise.all(ports.map((port) => get(port, '/api/ready')));
      readinessMs.push(...answers.map((a) => a.ms));
      // The canary's view (redis_pubsub) too: a silent subscriber is as bad as a failing command.
      return answers.every((a) => {
        const report = a.body as ReadinessReport;
        return a.status === 503 && !report.checks.redis && report.details.redis_pubsub?.status === 'down';
      });
    },
    { timeoutMs: 30_000, intervalMs: 500, what: 'readiness 503 and the canary down on both workers' },
  );
  const detectedMs = Date.now() - stalledAt;
  await sleep(Math.max(0, STALL_MS - (Date.now() - stalledAt)));
  const healedAt = Date.now();
  proxy.resume();

  await waitFor(
    async () =>
      (await Promise.all(ports.map((port) => get(port, '/api/ready')))).every((a) => a.status === 200),
    { timeoutMs: 45_000, intervalMs: 500, what: 'readiness 200 on both workers after the heal' },
  );
  const recoveredMs = Date.now() - healedAt;
  probing = false;
  await prober;

  // Delivery across both workers works again, and whatever was acknowledged meanwhile is stored.
  const inboxes = sockets.map((socket) => collect<MessageView>(socket, 'message:new'));
  const after = await request<{ ok: boolean }>(sockets[2], 'message:send', {
    conversationId,
    content: 'after the heal',
  });
  expect(after.ok).toBe(true);
  await waitFor(() => inboxes.every((inbox) => inbox.some((m) => m.content === 'after the heal')), {
    what: 'the message on every socket',
  });
  const synced = await request<{ messages: MessageView[] }>(sockets[0], 'conversation:sync', {
    conversationId,
    afterSeq: 0,
  });
  if (during.ok)
    expect(synced.messages.filter((m) => m.content === 'sent during the partition')).toHaveLength(1);
  console.log(
    [
      'Redis stalled (partition, nothing closed) for 35 s under 2 workers:',
      `  message:send during it answered in ${sendMs} ms (${during.ok ? 'ok' : during.error?.code})`,
      `  readiness 503 on both workers after ${detectedMs} ms; slowest readiness answer ${Math.round(Math.max(...readinessMs))} ms`,
      `  slowest liveness answer during the stall: ${Math.round(slowestLiveness)} ms`,
      `  readiness 200 again ${recoveredMs} ms after the heal`,
    ].join('\n'),
  );
  expect(sendMs).toBeLessThan(10_000);
  expect(detectedMs).toBeLessThan(30_000);
  expect(Math.max(...readinessMs)).toBeLessThan(2500);
  expect(slowestLiveness).toBeLessThan(2000);
}, 150_000);
