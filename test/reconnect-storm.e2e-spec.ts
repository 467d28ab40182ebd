import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectChat, TEST_JWT_SECRET, tokenFor, type ChatClient } from './support/chat-client.js';
import { HaProxy } from './support/haproxy.js';
import { statFields } from './support/proc.js';
import { sleep, waitFor } from './support/ports.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

/**
 * A reconnect storm: two instances (2 workers each) behind HAProxy hold 2,000 clients, half on
 * long-polling with HAProxy's affinity cookie, half on websocket; one instance drains (SIGTERM) and its
 * clients all reconnect to the other. `STORM_CLIENTS` changes the count. Figures are printed.
 */
const CLIENTS = Number(process.env.STORM_CLIENTS ?? 2000);
const REACH_LIMIT_MS = 15_000;

let redis: RedisServer;
let haproxy: HaProxy;
const instances: ServiceProcess[] = [];
const clients: { socket: ChatClient; errors: string[]; disconnectedAt?: number; reconnectedAt?: number }[] =
  [];

/** CPU seconds (user + system) and RSS in MiB of one process, from /proc. */
function usageOf(pid: number): { cpu: number; rssMiB: number } {
  const fields = statFields(pid)!;
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
  return { cpu: ticks / 100, rssMiB: Number(rss) / 1024 };
}

beforeAll(async () => {
  redis = await RedisServer.start();
  const shared = mkdtempSync(join(tmpdir(), 'storm-'));
  const env = {
    WORKERS: '2',
    REDIS_ENABLED: 'true',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: 'storm',
    JWT_SECRET: TEST_JWT_SECRET,
    ASSISTANT_ENABLED: 'false',
    DATABASE_URL: `sqlite:${join(shared, 'chat.db')}`,
    SHUTDOWN_DRAIN_DELAY_MS: '5000',
    SHUTDOWN_GRACE_MS: '15000',
  };
  instances.push(await ServiceProcess.launch(env), await ServiceProcess.launch(env));
  for (const instance of instances)
    await waitFor(async () => instance.alive && (await instance.get('/api/ready')).status === 200, {
      timeoutMs: 60_000,
      what: 'an instance ready',
    });
  haproxy = await HaProxy.start(instances[0].port, instances[1].port, { maxConnections: 3 * CLIENTS });
}, 120_000);

afterAll(async () => {
  for (const client of clients) client.socket.close();
  await haproxy?.stop();
  await stopAllServices();
  await redis?.stop();
});

it(`${CLIENTS} clients, an instance drains: all reach the other within 15 s, no "Session ID unknown"`, async () => {
  for (let i = 0; i < CLIENTS; i += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, CLIENTS - i) }, (_, j) =>
        connectChat(haproxy.baseUrl, tokenFor(`storm-${i + j}`), {
          reconnection: true,
          reconnectionDelay: 500,
          reconnectionDelayMax: 5000,
          // Half as browsers that stay on long-polling (the affinity cookie kept by the client), half websocket.
          ...((i + j) % 2 === 0
            ? { transports: ['polling'], withCredentials: true }
            : { transports: ['websocket'] }),
        }),
      ),
    );
    for (const socket of batch) {
      const client = { socket, errors: [] as string[] } as (typeof clients)[number];
      socket.on('disconnect', () => (client.disconnectedAt ??= Date.now()));
      socket.io.on('reconnect', () => (client.reconnectedAt ??= Date.now()));
      socket.io.on('error', (error) => client.errors.push(String((error as Error).message ?? error)));
      clients.push(client);
    }
  }
  const [draining, staying] = instances;
  /** A metric summed over the instance's workers (the primary labels each worker's series). */
  const metricSum = async (instance: ServiceProcess, name: string) => {
    const text = (await instance.get<string>('/metrics')).body;
    return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'gm'))].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
  };
  const unknownBefore = await metricSum(staying, 'engineio_session_id_unknown_total');
  const stayingPid = staying.child.pid!;
  const before = usageOf(stayingPid);
  let peakRss = before.rssMiB;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peakRss = Math.max(peakRss, usageOf(stayingPid).rssMiB);
      await sleep(200);
    }
  })();
  const movingCount = await metricSum(draining, 'chat_connected_sockets');

  const signalledAt = Date.now();
  const stopped = draining.stop('SIGTERM');
  // Every client of the draining instance is cut after the drain delay, then connects again.
  await waitFor(() => clients.filter((c) => c.disconnectedAt !== undefined).length >= movingCount, {
    timeoutMs: 30_000,
    intervalMs: 100,
    what: `the ${movingCount} clients of the draining instance cut`,
  });
  await waitFor(() => clients.every((c) => c.socket.connected), {
    timeoutMs: 60_000,
    intervalMs: 200,
    what: 'every client connected again',
  });
  await sleep(1000);
  sampling = false;
  await sampler;
  const after = usageOf(stayingPid);
  const stormSeconds = (Date.now() - signalledAt) / 1000;
  expect((await stopped).code).toBe(0);

  const movers = clients.filter((c) => c.disconnectedAt !== undefined);
  const reach = movers.map((c) => (c.reconnectedAt ?? Infinity) - c.disconnectedAt!).sort((a, b) => a - b);
  const fromSignal = Math.max(...movers.map((c) => (c.reconnectedAt ?? Infinity) - signalledAt));
  // HAProxy's log has a line per request: a 400 to /socket.io is Engine.IO refusing a session id.
  const refusedThroughProxy = haproxy.output
    .split('\n')
    .filter((line) => / 400 /.test(line) && line.includes('/socket.io/')).length;
  const unknownOnServer = (await metricSum(staying, 'engineio_session_id_unknown_total')) - unknownBefore;
  console.log(
    [
      `Reconnect storm: ${CLIENTS} clients behind HAProxy, 2 instances of 2 workers, one drains (SIGTERM):`,
      `  sockets on the draining instance: ${movingCount}; clients that moved: ${movers.length}`,
      `  disconnect -> connected again: p50 ${reach[reach.length >> 1]} ms, p99 ${reach[Math.floor(reach.length * 0.99)]} ms, max ${reach.at(-1)} ms`,
      `  SIGTERM -> last client connected again: ${fromSignal} ms (the drain delay is 5000 ms)`,
      `  "Session ID unknown": ${unknownOnServer} counted by the staying instance, ${refusedThroughProxy} HTTP 400 in HAProxy's log; other client errors: ${clients.reduce((n, c) => n + c.errors.length, 0)}`,
      `  the other instance's primary: ${(after.cpu - before.cpu).toFixed(2)} CPU s in the ${stormSeconds.toFixed(1)} s from SIGTERM, RSS ${before.rssMiB.toFixed(0)} -> peak ${peakRss.toFixed(0)} MiB`,
      `  sockets on the other instance afterwards: ${await metricSum(staying, 'chat_connected_sockets')}`,
    ].join('\n'),
  );
  expect(movers.length).toBeGreaterThan(CLIENTS / 4);
  expect(reach.at(-1)).toBeLessThanOrEqual(REACH_LIMIT_MS);
  expect(refusedThroughProxy).toBe(0);
  expect(unknownOnServer).toBe(0);
  expect(clients.every((c) => c.socket.connected)).toBe(true);
}, 300_000);
