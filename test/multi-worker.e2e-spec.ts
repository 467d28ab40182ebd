import {
  connectChat,
  collect,
  request,
  TEST_JWT_SECRET,
  tokenFor,
  type ChatClient,
  workerPidOf,
} from './support/chat-client.js';
import type { MessageView } from '../src/conversations/message.view.js';
import { scanEach } from '../src/redis/redis-scan.js';
import { sleep, waitFor } from './support/ports.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

const PREFIX = 'mw-e2e';
let redis: RedisServer;
let service: ServiceProcess;
const sockets: ChatClient[] = [];

const workerOf = (socket: ChatClient) => workerPidOf(redis, PREFIX, socket);

async function sessionKeys(): Promise<string[]> {
  const observer = redis.client();
  try {
    const keys: string[] = [];
    await scanEach(observer, `${PREFIX}:session:*`, (batch) => void keys.push(...batch));
    return keys;
  } finally {
    observer.disconnect();
  }
}

beforeAll(async () => {
  redis = await RedisServer.start();
  service = await ServiceProcess.start({
    WORKERS: '4',
    REDIS_ENABLED: 'true',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: PREFIX,
    JWT_SECRET: TEST_JWT_SECRET,
    SHUTDOWN_GRACE_MS: '5000',
  });
  // All four workers are up once each has written its "Listening"/ready line; readiness answers through any.
  await waitFor(async () => (await service.get('/api/ready')).status === 200, {
    timeoutMs: 30_000,
    what: 'ready',
  });
}, 60_000);

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});

afterAll(async () => {
  await stopAllServices();
  await redis.stop();
});

describe('WORKERS=4 behind the sticky primary', () => {
  it('keeps 40 polling-first clients connected for 20 s with a session hash each, gone within 5 s of leaving', async () => {
    const failures: string[] = [];
    const clients = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        connectChat(service.baseUrl, tokenFor(`poller-${i}`)).catch((error: Error) => {
          failures.push(error.message);
          return undefined;
        }),
      ),
    );
    expect(failures).toEqual([]);
    const connected = clients.filter((c): c is ChatClient => c !== undefined);
    sockets.push(...connected);
    const drops: string[] = [];
    for (const socket of connected) socket.on('disconnect', (reason) => drops.push(reason));

    await waitFor(async () => (await sessionKeys()).length === 40, { what: '40 session hashes' });
    const pids = new Set(await Promise.all(connected.map(workerOf)));
    expect(pids.size).toBeGreaterThanOrEqual(2);

    await sleep(20_000);
    expect(drops).toEqual([]);
    expect(connected.every((socket) => socket.connected)).toBe(true);
    expect(service.output).not.toMatch(/Session ID unknown/);

    for (const socket of sockets.splice(0)) socket.close();
    await waitFor(async () => (await sessionKeys()).length === 0, {
      timeoutMs: 5000,
      what: 'session hashes gone',
    });
  }, 60_000);

  it('delivers each message:new exactly once to every socket of two users spread over the workers', async () => {
    const aliceSockets = await Promise.all(
      Array.from({ length: 6 }, () => connectChat(service.baseUrl, tokenFor('alice'))),
    );
    const bobSockets = await Promise.all(
      Array.from({ length: 6 }, () =>
        connectChat(service.baseUrl, tokenFor('bob'), { transports: ['websocket'] }),
      ),
    );
    const all = [...aliceSockets, ...bobSockets];
    sockets.push(...all);
    expect(new Set(await Promise.all(all.map(workerOf))).size).toBeGreaterThanOrEqual(3);

    const created = await request<{ conversation: { id: string } }>(aliceSockets[0], 'conversation:create', {
      memberIds: ['bob'],
    });
    const conversationId = created.conversation.id;
    for (const socket of all) await request(socket, 'conversation:join', { conversationId });
    const inboxes = all.map((socket) => collect<MessageView>(socket, 'message:new'));

    const sent: number[] = [];
    for (let i = 0; i < 10; i++) {
      const sender = all[i % all.length];
      const ack = await request<{ ok: true; message: MessageView }>(sender, 'message:send', {
        conversationId,
        content: `m${i}`,
      });
      sent.push(ack.message.seq);
    }
    await waitFor(() => inboxes.every((inbox) => inbox.filter((m) => m.role === 'user').length >= 10), {
      what: 'every socket got 10 messages',
    });
    await sleep(500);
    // Exactly once each. Arrival order across workers is not guaranteed (a worker delivers its own
    // sends locally at once, others' via Redis): clients order by seq, and sync by it after a gap.
    for (const inbox of inboxes) {
      const userSeqs = inbox.filter((m) => m.role === 'user').map((m) => m.seq);
      expect(userSeqs.sort((a, b) => a - b)).toEqual(sent);
    }
  });

  it('survives SIGKILL of a worker: clients reconnect, a replacement starts, sync returns every acked message once', async () => {
    const reconnecting = { reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 1000 };
    const members = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        connectChat(service.baseUrl, tokenFor(`member-${i % 3}`), reconnecting),
      ),
    );
    sockets.push(...members);
    const owner = members[0];
    const created = await request<{ conversation: { id: string } }>(owner, 'conversation:create', {
      memberIds: ['member-1', 'member-2'],
    });
    const conversationId = created.conversation.id;
    for (const socket of members) await request(socket, 'conversation:join', { conversationId });

    const victimPid = await workerOf(members[1]);
    const victims = (
      await Promise.all(members.map(async (s) => ((await workerOf(s)) === victimPid ? s : undefined)))
    ).filter((s): s is ChatClient => s !== undefined);
    const survivors = members.filter((s) => !victims.includes(s));
    expect(survivors.length).toBeGreaterThan(0);

    // A survivor keeps sending through the crash; every acked message must come back from sync.
    const acked: MessageView[] = [];
    let sending = true;
    const sender = (async () => {
      for (let i = 0; sending && i < 200; i++) {
        const answer = await request<{ ok: boolean; message: MessageView }>(survivors[0], 'message:send', {
          conversationId,
          content: `during crash ${i}`,
        }).catch(() => undefined);
        if (answer?.ok) acked.push(answer.message);
        await sleep(50);
      }
    })();

    const replacedBefore = (service.output.match(/starting a replacement/g) ?? []).length;
    const reconnected = victims.map(
      (socket) => new Promise<void>((resolve) => socket.io.once('reconnect', () => resolve())),
    );
    await sleep(300);
    process.kill(victimPid, 'SIGKILL');
    const killedAt = Date.now();
    await Promise.all(reconnected);
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    await waitFor(() => (service.output.match(/starting a replacement/g) ?? []).length > replacedBefore, {
      what: 'a replacement worker',
    });
    sending = false;
    await sender;

    for (const socket of victims) expect(await workerOf(socket)).not.toBe(victimPid);
    const synced = await request<{ messages: MessageView[] }>(victims[0], 'conversation:sync', {
      conversationId,
      afterSeq: 0,
    });
    const seqs = synced.messages.map((m) => m.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(synced.messages.map((m) => m.id)).size).toBe(synced.messages.length);
    expect(new Set(seqs).size).toBe(seqs.length);
    const syncedIds = new Set(synced.messages.map((m) => m.id));
    expect(acked.length).toBeGreaterThan(0);
    expect(acked.filter((m) => !syncedIds.has(m.id))).toEqual([]);
  }, 60_000);

  it('exits 0 on SIGTERM to the primary, with every worker', async () => {
    const { code } = await service.stop('SIGTERM');
    expect(code).toBe(0);
  }, 30_000);
});
