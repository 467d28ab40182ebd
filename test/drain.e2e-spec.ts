import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MessageView } from '../src/conversations/message.view.js';
import {
  conversationOfTwo,
  type ChatClient,
  TEST_JWT_SECRET,
  collect,
  connectChat,
  request,
  tokenFor,
  workerPidOf,
} from './support/chat-client.js';
import { FakeOllama } from './support/fake-ollama.js';
import { waitFor } from './support/ports.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

// Graceful drain (CONTRACT §4 "Shutdown"): readiness 503 at once, then this process closes its own
// clients' transports, so they see `transport close` (never `io server disconnect`) and reconnect to a
// surviving worker; exit 0 within SHUTDOWN_GRACE_MS.

const PREFIX = 'drain-e2e';
const GRACE_MS = 6000;
const DRAIN_DELAY_MS = 2000;
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
  await waitFor(() => service.workerPorts().size === workers, {
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
    const victimPort = service.workerPorts().get(victim)!;
    const onVictim = clients.filter((_, i) => before[i] === victim);
    const elsewhere = clients.filter((_, i) => before[i] !== victim);
    expect(onVictim.length).toBeGreaterThanOrEqual(10); // least connections: ~12 of 50

    process.kill(victim, 'SIGTERM');
    // 503 while its clients are still connected (they are cut only after the drain delay).
    await waitFor(async () => (await fetch(`http://127.0.0.1:${victimPort}/api/ready`)).status === 503, {
      timeoutMs: DRAIN_DELAY_MS,
      intervalMs: 50,
      what: "the victim's readiness 503",
    });
    expect(onVictim.every((c) => c.reasons.length === 0)).toBe(true);

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
    // Liveness still answers while the pod drains (the primary routes it to a draining worker).
    expect((await service.get('/api/health')).status).toBe(200);
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

it('SIGTERM mid-answer: the answer is marked failed and the room on another instance is told, before Redis quits', async () => {
  const ollama = await FakeOllama.start();
  // Two pods (one worker each) sharing Redis and one database, as in production.
  const shared = mkdtempSync(join(tmpdir(), 'drain-e2e-'));
  const env = {
    REDIS_ENABLED: 'true',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: `${PREFIX}-answers`,
    JWT_SECRET: TEST_JWT_SECRET,
    OLLAMA_URL: ollama.url,
    DATABASE_URL: `sqlite:${join(shared, 'chat.db')}`,
    SHUTDOWN_GRACE_MS: String(GRACE_MS),
    SHUTDOWN_DRAIN_DELAY_MS: '200',
  };
  const leaving = await ServiceProcess.start(env);
  const staying = await ServiceProcess.start(env);
  const { alice, bob, conversationId } = await conversationOfTwo(leaving, staying);
  try {
    ollama.script = { tokens: Array.from({ length: 200 }, (_, i) => `t${i} `), tokenDelayMs: 50 };
    const deltas = collect(bob, 'message:delta');
    const errors = collect<{ messageId: string; error: { code: string } }>(bob, 'message:error');
    await request(alice, 'message:send', {
      conversationId,
      content: 'tell me a long story',
    });
    await waitFor(() => deltas.length >= 3, { timeoutMs: 15_000, what: 'the answer streaming to bob' });

    const { code } = await leaving.stop('SIGTERM');
    expect(code).toBe(0);
    // Told through Redis by the leaving instance, which answered; bob's own instance never streamed it.
    await waitFor(() => errors.length > 0, { timeoutMs: 5000, what: 'message:error on the other instance' });
    expect(errors).toHaveLength(1);
    const { messages } = await request<{ messages: MessageView[] }>(bob, 'conversation:sync', {
      conversationId,
      afterSeq: 0,
    });
    const answer = messages.find((m) => m.role === 'assistant')!;
    expect(answer.id).toBe(errors[0].messageId);
    expect(answer.status).toBe('failed');
    expect(answer.content.length).toBeGreaterThan(0); // what was said so far is kept
  } finally {
    alice.close();
    bob.close();
    await staying.stop();
    await ollama.stop();
    rmSync(shared, { recursive: true, force: true });
  }
}, 120_000);
