import {
  type ChatClient,
  TEST_JWT_SECRET,
  connectChat,
  tokenFor,
  workerPidOf,
} from './support/chat-client.js';
import { waitFor } from './support/ports.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

// Graceful drain (CONTRACT §4 "Shutdown"): readiness 503 at once, then this process closes its own
// clients' transports, so they see `transport close` (never `io server disconnect`) and reconnect to a
// surviving worker; exit 0 within SHUTDOWN_GRACE_MS.

const PREFIX = 'drain-e2e';
const GRACE_MS = 6000;
const DRAIN_DELAY_MS = 1000;
let redis: RedisServer;

interface Tracked {
  socket: ChatClient;
  reasons: string[];
  connects: number;
}

/** Connects `count` clients that reconnect by themselves, recording every disconnect reason. */
async function connectTracked(service: ServiceProcess, count: number): Promise<Tracked[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const socket = await connectChat(service.baseUrl, tokenFor(`drain-user-${i}`), {
        reconnection: true,
        reconnectionDelay: 200,
        reconnectionDelayMax: 1000,
      });
      const tracked: Tracked = { socket, reasons: [], connects: 1 };
      socket.on('disconnect', (reason) => tracked.reasons.push(reason));
      socket.on('connect', () => tracked.connects++);
      return tracked;
    }),
  );
}

function workerPorts(service: ServiceProcess): Map<number, number> {
  return new Map(
    [...service.output.matchAll(/Worker (\d+) ready on 127\.0\.0\.1:(\d+)/g)].map(([, pid, port]) => [
      Number(pid),
      Number(port),
    ]),
  );
}

async function startService(workers: number): Promise<ServiceProcess> {
  const service = await ServiceProcess.start({
    WORKERS: String(workers),
    REDIS_ENABLED: 'true',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: PREFIX,
    JWT_SECRET: TEST_JWT_SECRET,
    SHUTDOWN_GRACE_MS: String(GRACE_MS),
    SHUTDOWN_DRAIN_DELAY_MS: String(DRAIN_DELAY_MS),
  });
  await waitFor(() => workerPorts(service).size === workers, {
    timeoutMs: 60_000,
    what: `${workers} workers ready`,
  });
  return service;
}

beforeAll(async () => {
  redis = await RedisServer.start();
});

afterAll(async () => {
  await stopAllServices();
  await redis?.stop();
});

it('SIGTERM to one of 4 workers: 503 at once, its clients see transport close and move to the others, exit 0', async () => {
  const service = await startService(4);
  const clients = await connectTracked(service, 50);
  try {
    const pidOf = (client: Tracked) => workerPidOf(redis, PREFIX, client.socket);
    const before = await Promise.all(clients.map(pidOf));
    const victim = before[0];
    const victimPort = workerPorts(service).get(victim)!;
    const onVictim = clients.filter((_, i) => before[i] === victim);
    const elsewhere = clients.filter((_, i) => before[i] !== victim);
    expect(onVictim.length).toBeGreaterThanOrEqual(10); // least connections: ~12 of 50

    const signalledAt = Date.now();
    process.kill(victim, 'SIGTERM');
    const ready = await fetch(`http://127.0.0.1:${victimPort}/api/ready`);
    expect(ready.status).toBe(503);
    expect(Date.now() - signalledAt).toBeLessThan(DRAIN_DELAY_MS);

    // Every client of the victim is cut with `transport close`, reconnects, and lands elsewhere.
    await waitFor(() => onVictim.every((c) => c.connects >= 2 && c.socket.connected), {
      timeoutMs: 20_000,
      what: "the victim's clients reconnected",
    });
    for (const client of onVictim) expect(client.reasons).toEqual(['transport close']);
    const after = await Promise.all(onVictim.map(pidOf));
    expect(after.filter((pid) => pid === victim || !pid)).toEqual([]);
    // Nobody else noticed anything.
    for (const client of elsewhere) expect(client.reasons).toEqual([]);

    await service.waitForOutput(new RegExp(`Worker ${victim} exited \\(code 0\\)`), GRACE_MS + 2000);
    expect(service.output).toMatch(new RegExp(`Worker ${victim} is draining`));
  } finally {
    for (const client of clients) client.socket.close();
    await service.stop();
  }
}, 120_000);

it('SIGTERM to the primary: every worker drains, clients see transport close, the pod exits 0 within the grace time', async () => {
  const service = await startService(2);
  const clients = await connectTracked(service, 20);
  try {
    const signalledAt = Date.now();
    service.child.kill('SIGTERM');
    await waitFor(
      async () => (await service.get('/api/ready').catch(() => ({ status: 503 }))).status === 503,
      {
        timeoutMs: DRAIN_DELAY_MS,
        intervalMs: 50,
        what: 'readiness 503',
      },
    );
    const { code } = await service.exited;
    expect(code).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(GRACE_MS + 2000);
    // The transports were closed by the drain, before the process went: never `io server disconnect`.
    for (const client of clients) expect(client.reasons[0]).toBe('transport close');
    expect(service.output).toMatch(/Closed \d+ client transports/);
  } finally {
    for (const client of clients) client.socket.close();
    await service.stop();
  }
}, 120_000);
