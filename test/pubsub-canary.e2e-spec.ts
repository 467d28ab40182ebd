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
import { waitFor } from './support/ports.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';
import { TcpProxy } from './support/tcp-proxy.js';

// No deaf workers (CONTRACT §2): a worker whose subscriber died while its TCP socket looks alive
// notices within 30 s through its canary, says so in readiness, and subscribes again.

const PREFIX = 'canary-e2e';
let redis: RedisServer;
let proxy: TcpProxy;
let service: ServiceProcess;
const sockets: ChatClient[] = [];

/** One worker's own readiness, bypassing the primary (which would answer from any worker). */
async function readinessOf(port: number): Promise<{ status: number; body: ReadinessReport }> {
  const response = await fetch(`http://127.0.0.1:${port}/api/ready`, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: (await response.json()) as ReadinessReport };
}

async function metricsOf(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
}

const pubsubOf = async (port: number) => (await readinessOf(port)).body.details.redis_pubsub;

/** Lines this worker logged (Nest prints the pid on each line, JSON logs carry it as a field). */
const linesOf = (pid: number, text: string) =>
  service.output.split('\n').filter((line) => line.includes(String(pid)) && line.includes(text));

/** Eight users, two per worker (least connections), one room: a message from one reaches all. */
async function expectBroadcastAcrossAllWorkers(): Promise<void> {
  const users = Array.from({ length: 8 }, (_, i) => `member-${i}`);
  for (const user of users) sockets.push(await connectChat(service.baseUrl, tokenFor(user)));
  const pids = new Set(await Promise.all(sockets.map((socket) => workerPidOf(redis, PREFIX, socket))));
  expect(pids.size).toBe(4);
  const created = await request<{ conversation: { id: string } }>(sockets[0], 'conversation:create', {
    memberIds: users,
  });
  const conversationId = created.conversation.id;
  for (const socket of sockets) await request(socket, 'conversation:join', { conversationId });
  const inboxes = sockets.map((socket) => collect<MessageView>(socket, 'message:new'));
  await request(sockets[3], 'message:send', { conversationId, content: 'heard by every worker' });
  const userMessages = (inbox: MessageView[]) => inbox.filter((m) => m.role === 'user');
  await waitFor(() => inboxes.every((inbox) => userMessages(inbox).length >= 1), {
    timeoutMs: 10_000,
    what: 'the message on all 8 sockets',
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  for (const inbox of inboxes)
    expect(userMessages(inbox).map((m) => m.content)).toEqual(['heard by every worker']);
}

beforeAll(async () => {
  redis = await RedisServer.start();
  proxy = await TcpProxy.start(redis.port);
  service = await ServiceProcess.start({
    WORKERS: '4',
    REDIS_ENABLED: 'true',
    // Through the proxy, so a test can make a connection half-open.
    REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
    REDIS_KEY_PREFIX: PREFIX,
    JWT_SECRET: TEST_JWT_SECRET,
    SHUTDOWN_GRACE_MS: '5000',
  });
  await waitFor(() => service.workerPorts().size === 4, { timeoutMs: 60_000, what: '4 workers ready' });
  await waitFor(
    async () => {
      const answers = await Promise.all([...service.workerPorts().values()].map(readinessOf));
      return answers.every(({ status }) => status === 200);
    },
    { timeoutMs: 30_000, what: 'every worker ready' },
  );
}, 90_000);

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});

afterAll(async () => {
  await stopAllServices();
  await proxy?.stop();
  await redis?.stop();
});

it('reports the canary round trip and the adapter subscribers against the registered workers', async () => {
  const [port] = service.workerPorts().values();
  await waitFor(
    async () => /4 adapter subscribers for 4 registered workers/.test((await pubsubOf(port)).message ?? ''),
    {
      timeoutMs: 45_000,
      what: 'PUBSUB NUMSUB = 4 registered workers',
    },
  );
  const pubsub = await pubsubOf(port);
  expect(pubsub.status).toBe('up');
  expect(pubsub.message).toMatch(/^canary \d+(\.\d+)? ms; 4 adapter subscribers for 4 registered workers$/);
  expect((await readinessOf(port)).body.multi_worker_support).toBe(true);
  // The same figures for Prometheus, from this worker.
  const metrics = await metricsOf(port);
  expect(metrics).toMatch(/^redis_pubsub_adapter_subscribers 4$/m);
  expect(metrics).toMatch(/^redis_pubsub_registered_workers 4$/m);
  expect(metrics).toMatch(/^redis_pubsub_healthy 1$/m);
  expect(Number(/^redis_pubsub_canary_seconds_count (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
}, 60_000);

it('CLIENT KILL TYPE pubsub: every worker marks redis_pubsub down, subscribes again, and broadcasts work', async () => {
  const pids = [...service.workerPorts().keys()];
  const killer = redis.client();
  try {
    expect(Number(await killer.client('KILL', 'TYPE', 'pubsub'))).toBe(4);
  } finally {
    killer.disconnect();
  }
  // Each worker logs the state change once, then the canary's return.
  await waitFor(() => pids.every((pid) => linesOf(pid, 'redis_pubsub is down').length > 0), {
    timeoutMs: 30_000,
    what: 'every worker reporting redis_pubsub down',
  });
  await waitFor(() => pids.every((pid) => linesOf(pid, 'canary is back').length > 0), {
    timeoutMs: 30_000,
    what: 'every worker hearing its canary again',
  });
  for (const port of service.workerPorts().values()) {
    await waitFor(async () => (await readinessOf(port)).status === 200, { timeoutMs: 15_000, what: 'ready' });
    expect((await pubsubOf(port)).status).toBe('up');
  }
  await expectBroadcastAcrossAllWorkers();
}, 120_000);

it('a half-open subscriber (the proxy stops forwarding) turns redis_pubsub down within 30 s, then recovers', async () => {
  const [[pid, port]] = [...service.workerPorts()];
  const others = [...service.workerPorts()].filter(([other]) => other !== pid);
  const downLinesBefore = linesOf(pid, 'redis_pubsub is down').length;
  // The connection still looks open to the worker and to Redis; nothing passes any more.
  expect(proxy.freeze(`${PREFIX}:subscriber:${pid}`)).toBe(1);
  const frozenAt = Date.now();
  let sawDown = false;
  await waitFor(
    async () => {
      const { status, body } = await readinessOf(port);
      if (status === 503 && body.details.redis_pubsub?.status === 'down') {
        expect(body.checks.redis).toBe(false);
        expect(body.multi_worker_support).toBe(false);
        sawDown = true;
      }
      return sawDown;
    },
    { timeoutMs: 30_000, intervalMs: 100, what: 'redis_pubsub down on the deaf worker' },
  );
  expect(Date.now() - frozenAt).toBeLessThan(30_000);
  expect(linesOf(pid, 'redis_pubsub is down').length).toBe(downLinesBefore + 1);
  expect(linesOf(pid, 'Re-establishing the Redis subscriber').length).toBeGreaterThan(0);
  // The other workers were never deaf.
  for (const [, otherPort] of others) expect((await pubsubOf(otherPort)).status).toBe('up');
  // It reconnects (a new connection through the proxy is forwarded) and hears its canary again.
  await waitFor(async () => (await readinessOf(port)).status === 200, {
    timeoutMs: 30_000,
    what: 'the worker ready again',
  });
  expect((await pubsubOf(port)).status).toBe('up');
  expect(
    Number(/^redis_pubsub_canary_misses_total (\d+)$/m.exec(await metricsOf(port))?.[1]),
  ).toBeGreaterThan(0);
  await expectBroadcastAcrossAllWorkers();
}, 120_000);
