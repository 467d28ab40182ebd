import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MessageView } from '../src/conversations/message.view.js';
import {
  collect,
  connectChat,
  request,
  TEST_JWT_SECRET,
  tokenFor,
  workerPidOf,
  type ChatClient,
} from './support/chat-client.js';
import { FakeOllama } from './support/fake-ollama.js';
import { sleep, waitFor } from './support/ports.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

/**
 * `answer:cancel` (contract §4) on real processes: instance A (2 workers) and instance B (1 worker)
 * share Redis and the database. A member stops an answer from another worker or another instance; the
 * fake Ollama sees its request closed; the answer ends `cancelled` with what was streamed, once.
 */
const PREFIX = 'cancel-e2e';
const TOKENS = Array.from({ length: 40 }, (_, i) => `t${i} `);

interface Delta {
  messageId: string;
  index: number;
  delta: string;
}
interface Done {
  message: MessageView;
}
interface CancelAck {
  ok: boolean;
  message?: MessageView;
  error?: { code: string };
}

let redis: RedisServer;
let ollama: FakeOllama;
let a: ServiceProcess;
let b: ServiceProcess;
const sockets: ChatClient[] = [];

async function connect(service: ServiceProcess, user: string): Promise<ChatClient> {
  const socket = await connectChat(service.baseUrl, tokenFor(user));
  sockets.push(socket);
  return socket;
}

/** Alice asks on `asker`; everyone joined; resolves with the answer's id once it streams. */
async function askSlowly(asker: ChatClient, members: ChatClient[], conversationId: string): Promise<string> {
  const news = collect<MessageView>(members[0], 'message:new');
  await request(asker, 'message:send', { conversationId, content: `question ${Date.now()}` });
  const draft = await waitFor(() => news.find((m) => m.role === 'assistant'), {
    what: 'the answer starting',
  });
  return draft.id;
}

beforeAll(async () => {
  [redis, ollama] = await Promise.all([RedisServer.start(), FakeOllama.start()]);
  const shared = mkdtempSync(join(tmpdir(), 'cancel-'));
  const env = {
    REDIS_ENABLED: 'true',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: PREFIX,
    JWT_SECRET: TEST_JWT_SECRET,
    OLLAMA_URL: ollama.url,
    DATABASE_URL: `sqlite:${join(shared, 'chat.db')}`,
  };
  [a, b] = await Promise.all([ServiceProcess.launch({ ...env, WORKERS: '2' }), ServiceProcess.launch(env)]);
  for (const service of [a, b])
    await waitFor(async () => service.alive && (await service.get('/api/ready')).status === 200, {
      timeoutMs: 60_000,
      what: 'ready',
    });
}, 90_000);

beforeEach(() => {
  ollama.script = { tokens: TOKENS, tokenDelayMs: 100 };
});

afterAll(async () => {
  for (const socket of sockets) socket.close();
  await stopAllServices();
  await Promise.all([redis?.stop(), ollama?.stop()]);
});

describe('answer:cancel', () => {
  let conversationId: string;
  let asker: ChatClient;
  let otherWorker: ChatClient;
  let otherInstance: ChatClient;

  beforeAll(async () => {
    asker = await connect(a, 'alice');
    // A second socket of A on the other worker (least connections sends it there).
    otherWorker = await connect(a, 'bob');
    expect(await workerPidOf(redis, PREFIX, otherWorker)).not.toBe(await workerPidOf(redis, PREFIX, asker));
    otherInstance = await connect(b, 'bob');
    const created = await request<{ conversation: { id: string } }>(asker, 'conversation:create', {
      memberIds: ['bob'],
    });
    conversationId = created.conversation.id;
    for (const socket of [asker, otherWorker, otherInstance])
      await request(socket, 'conversation:join', { conversationId });
  });

  it.each([
    ['a socket on the other worker', () => otherWorker],
    ['a socket on another instance', () => otherInstance],
  ])(
    'from %s: the request to Ollama is closed, the answer ends cancelled with what streamed',
    async (_, from) => {
      const members = [asker, otherWorker, otherInstance];
      const deltas = members.map((s) => collect<Delta>(s, 'message:delta'));
      const dones = members.map((s) => collect<Done>(s, 'message:done'));
      const messageId = await askSlowly(asker, members, conversationId);
      await waitFor(() => deltas[0].filter((d) => d.messageId === messageId).length >= 2, {
        what: 'two deltas',
      });
      const abandonedBefore = ollama.abandoned.length;
      const cancelledAt = Date.now();
      const ack = await request<CancelAck>(from(), 'answer:cancel', { conversationId, messageId });
      expect(ack.ok).toBe(true);
      expect(ack.message).toMatchObject({ id: messageId, status: 'cancelled' });
      await waitFor(() => ollama.abandoned.length > abandonedBefore, { what: "Ollama's request closed" });
      expect(ollama.abandoned.at(-1)! - cancelledAt).toBeLessThan(1000);

      for (const [i] of members.entries()) {
        await waitFor(() => dones[i].some((d) => d.message.id === messageId), {
          what: 'message:done on every socket',
        });
        const done = dones[i].filter((d) => d.message.id === messageId);
        expect(done).toHaveLength(1);
        expect(done[0].message.status).toBe('cancelled');
        // What was streamed is what is kept, and no delta comes after message:done.
        const streamed = deltas[i].filter((d) => d.messageId === messageId).sort((x, y) => x.index - y.index);
        expect(streamed.map((d) => d.delta).join('')).toBe(done[0].message.content);
        expect(TOKENS.join('').startsWith(done[0].message.content)).toBe(true);
        expect(done[0].message.content.length).toBeLessThan(TOKENS.join('').length);
      }
      await sleep(500);
      for (const [i] of members.entries())
        expect(
          deltas[i]
            .filter((d) => d.messageId === messageId)
            .map((d) => d.delta)
            .join(''),
        ).toBe(ack.message!.content);
      const synced = await request<{ messages: MessageView[] }>(asker, 'conversation:sync', {
        conversationId,
        afterSeq: 0,
      });
      expect(synced.messages.find((m) => m.id === messageId)).toMatchObject({
        status: 'cancelled',
        content: ack.message!.content,
      });
    },
  );

  it('returns an answer that is no longer streaming unchanged, and refuses a non-member', async () => {
    ollama.script = { tokens: ['quick'], tokenDelayMs: 0 };
    const dones = collect<Done>(asker, 'message:done');
    const messageId = await askSlowly(asker, [asker], conversationId);
    await waitFor(() => dones.some((d) => d.message.id === messageId), { what: 'the answer complete' });
    const ack = await request<CancelAck>(otherInstance, 'answer:cancel', { conversationId, messageId });
    expect(ack.message).toMatchObject({ id: messageId, status: 'complete', content: 'quick' });

    const outsider = await connect(b, 'mallory');
    const refused = await request<CancelAck>(outsider, 'answer:cancel', { conversationId, messageId });
    expect(refused).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
  });

  it('a cancel racing the natural end leaves exactly one final state, everywhere', async () => {
    for (let round = 0; round < 6; round++) {
      ollama.script = { tokens: ['a ', 'b ', 'c'], tokenDelayMs: 15 };
      const dones = [asker, otherInstance].map((s) => collect<Done>(s, 'message:done'));
      const messageId = await askSlowly(asker, [asker], conversationId);
      await sleep(10 * round);
      const ack = await request<CancelAck>(otherWorker, 'answer:cancel', { conversationId, messageId });
      expect(['complete', 'cancelled']).toContain(ack.message!.status);
      for (const inbox of dones) {
        await waitFor(() => inbox.some((d) => d.message.id === messageId), { what: 'message:done' });
        await sleep(200);
        const finals = inbox.filter((d) => d.message.id === messageId);
        expect(finals).toHaveLength(1);
        expect(finals[0].message).toMatchObject({
          status: ack.message!.status,
          content: ack.message!.content,
        });
      }
    }
  });
});
