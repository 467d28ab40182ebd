import {
  connectChat,
  TEST_JWT_SECRET,
  tokenFor,
  workerPidOf,
  type ChatClient,
} from './support/chat-client.js';
import { waitFor } from './support/ports.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

/**
 * Contract §4: with WORKERS=N readiness turns 200 once every worker has booted (or after 30 s once any
 * has), so the burst of clients a load balancer sends the moment it does spreads over all workers.
 */
const PREFIX = 'startup';
const CLIENTS = 40;

let redis: RedisServer;
const sockets: ChatClient[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
});

afterAll(async () => {
  for (const socket of sockets) socket.close();
  await stopAllServices();
  await redis.stop();
});

interface ReadyBody {
  status: string;
  details: Record<string, { message?: string }>;
}

it('answers 503 "n of 4 booted" until the 4th worker is up, then 40 polling clients land on all 4', async () => {
  const service = await ServiceProcess.launch({
    WORKERS: '4',
    REDIS_ENABLED: 'true',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: PREFIX,
    JWT_SECRET: TEST_JWT_SECRET,
  });
  const waiting: string[] = [];
  let bootedWhenReady = -1;
  await waitFor(
    async () => {
      if (!service.alive) throw new Error(`exited:\n${service.output}`);
      const booted = service.workerPorts().size;
      const answer = await service.get<ReadyBody>('/api/ready').catch(() => undefined);
      if (answer?.status === 503 && answer.body.details.workers?.message)
        waiting.push(answer.body.details.workers.message);
      if (answer?.status !== 200) return false;
      bootedWhenReady = booted;
      return true;
    },
    { timeoutMs: 60_000, intervalMs: 20, what: 'readiness 200' },
  );
  // Each 200 came after the 4th "ready" line; before it, readiness said how many had booted.
  expect(bootedWhenReady).toBe(4);
  expect(waiting.some((message) => /^Starting: [0-3] of 4 workers booted$/.test(message))).toBe(true);

  // The burst a load balancer sends as soon as the pod is ready: polling first, as browsers connect.
  sockets.push(
    ...(await Promise.all(
      Array.from({ length: CLIENTS }, (_, i) => connectChat(service.baseUrl, tokenFor(`burst-${i}`))),
    )),
  );
  const perWorker = new Map<number, number>();
  for (const socket of sockets) {
    const pid = await workerPidOf(redis, PREFIX, socket);
    perWorker.set(pid, (perWorker.get(pid) ?? 0) + 1);
  }
  expect(perWorker.size).toBe(4);
  expect(Math.max(...perWorker.values())).toBeLessThanOrEqual(CLIENTS / 4 + 2);
}, 90_000);
