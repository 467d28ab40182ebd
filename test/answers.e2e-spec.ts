import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MessageView } from '../src/conversations/message.view.js';
import {
  connectChat,
  collect,
  request,
  TEST_JWT_SECRET,
  tokenFor,
  type ChatClient,
  workerPidOf,
} from './support/chat-client.js';
import { FakeOllama } from './support/fake-ollama.js';
import { sleep, waitFor } from './support/ports.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

interface Delta {
  conversationId: string;
  messageId: string;
  index: number;
  delta: string;
}
interface Failure {
  conversationId: string;
  messageId: string;
  error: { code: string; message: string };
}
interface Done {
  conversationId: string;
  message: MessageView;
}

const PREFIX = 'answers-e2e';
const TOKENS = Array.from({ length: 30 }, (_, i) => `tok${i} `);
let redis: RedisServer;
let ollama: FakeOllama;
let service: ServiceProcess;
const sockets: ChatClient[] = [];

const pidOf = (socket: ChatClient) => workerPidOf(redis, PREFIX, socket);

async function connect(userId: string, options = {}): Promise<ChatClient> {
  const socket = await connectChat(service.baseUrl, tokenFor(userId), options);
  sockets.push(socket);
  return socket;
}

/** A conversation of alice and bob, with `count` sockets each joined, spread over the workers. */
async function room(count = 3): Promise<{ id: string; sockets: ChatClient[] }> {
  const members = await Promise.all(
    Array.from({ length: count * 2 }, (_, i) =>
      connect(i % 2 ? 'bob' : 'alice', i % 3 ? {} : { transports: ['websocket'] }),
    ),
  );
  const created = await request<{ conversation: { id: string } }>(members[0], 'conversation:create', {
    memberIds: ['bob'],
  });
  for (const socket of members)
    await request(socket, 'conversation:join', { conversationId: created.conversation.id });
  return { id: created.conversation.id, sockets: members };
}

async function sync(socket: ChatClient, conversationId: string): Promise<MessageView[]> {
  return (
    await request<{ messages: MessageView[] }>(socket, 'conversation:sync', { conversationId, afterSeq: 0 })
  ).messages;
}

beforeAll(async () => {
  redis = await RedisServer.start();
  ollama = await FakeOllama.start();
  const docs = mkdtempSync(join(tmpdir(), 'answers-docs-'));
  writeFileSync(
    join(docs, 'sticky.md'),
    '# Sticky sessions\nLong-polling clients need sticky routing: every request of one Engine.IO session must reach the worker that holds it.\n',
  );
  writeFileSync(join(docs, 'pasta.txt'), 'Cooking pasta: boil salted water, add the pasta, stir.\n');
  service = await ServiceProcess.launch({
    WORKERS: '4',
    REDIS_ENABLED: 'true',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: PREFIX,
    JWT_SECRET: TEST_JWT_SECRET,
    OLLAMA_URL: ollama.url,
    OLLAMA_IDLE_TIMEOUT_MS: '1000',
  });
  await waitFor(async () => service.alive && (await service.get('/api/ready')).status === 200, {
    timeoutMs: 30_000,
    what: 'ready',
  });
  service.ingest(docs);
}, 60_000);

beforeEach(() => {
  ollama.mode = 'ok';
  ollama.script = { tokens: TOKENS, tokenDelayMs: 5 };
});

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});

afterAll(async () => {
  await stopAllServices();
  await ollama.stop();
  await redis.stop();
});

describe('answers on 4 workers', () => {
  it('streams deltas in order to every socket; their concatenation is message:done, and what sync returns', async () => {
    const { id, sockets: members } = await room();
    expect(new Set(await Promise.all(members.map(pidOf))).size).toBeGreaterThanOrEqual(2);
    const deltas = members.map((socket) => collect<Delta>(socket, 'message:delta'));
    const dones = members.map((socket) => collect<Done>(socket, 'message:done'));
    const news = members.map((socket) => collect<MessageView>(socket, 'message:new'));

    await request(members[1], 'message:send', {
      conversationId: id,
      content: 'How do sticky sessions work?',
    });
    await waitFor(() => dones.every((d) => d.length === 1), { what: 'message:done everywhere' });
    const done = dones[0][0].message;
    expect(done).toMatchObject({ role: 'assistant', status: 'complete', content: TOKENS.join('') });
    expect(done.sources?.[0]).toMatchObject({
      title: 'Sticky sessions',
      snippet: expect.any(String),
      score: expect.any(Number),
    });
    for (const [i, received] of deltas.entries()) {
      // Tokens that come within 100 ms of each other travel in one delta: indexes stay gap-free from 0.
      expect(received.map((d) => d.index)).toEqual(received.map((_, n) => n));
      expect(received.length).toBeLessThan(TOKENS.length);
      expect(received.map((d) => d.delta).join('')).toBe(done.content);
      expect(dones[i][0].message).toEqual(done);
      expect(news[i].map((m) => m.role)).toEqual(['user', 'assistant']);
      expect(news[i][1]).toMatchObject({ id: done.id, status: 'streaming', content: '' });
    }
    const stored = await sync(members[0], id);
    expect(stored.map((m) => [m.role, m.status])).toEqual([
      ['user', 'complete'],
      ['assistant', 'complete'],
    ]);
    expect(stored[1].content).toBe(done.content);
    expect(service.output).toMatch(
      new RegExp(`Message processed for User bob: ${done.content.length} chars, 1 sources`),
    );
    // The question and the retrieved source reached the model.
    const prompt = JSON.stringify(ollama.chatRequests.at(-1));
    expect(prompt).toContain('How do sticky sessions work?');
    expect(prompt).toContain('Sticky sessions');
  });

  it('caps a long answer by its UTF-8 bytes, so message:done stays under the 64 KiB event limit', async () => {
    // 40,000 CJK characters, 120,000 bytes: a cap of 32,000 characters would still have kept 96,000 bytes.
    ollama.script = { tokens: Array.from({ length: 100 }, () => '漢'.repeat(400)) };
    const { id, sockets: members } = await room();
    const dones = members.map((socket) => collect<Done>(socket, 'message:done'));
    const deltas = collect<Delta>(members[0], 'message:delta');
    await request(members[1], 'message:send', { conversationId: id, content: 'Write at length' });
    await waitFor(() => dones.every((d) => d.length === 1), { what: 'message:done everywhere' });
    const { content } = dones[0][0].message;
    const bytes = Buffer.byteLength(content);
    expect(bytes).toBeLessThanOrEqual(32 * 1024);
    expect(bytes).toBeGreaterThan(32 * 1024 - 3); // filled up to the last whole character
    expect(content).toBe('漢'.repeat(content.length));
    expect(deltas.map((d) => d.delta).join('')).toBe(content);
    expect(Buffer.byteLength(JSON.stringify(dones[1][0]))).toBeLessThan(64 * 1024);
  });

  it('answers LLM_UNAVAILABLE within 5 s when Ollama is down, and keeps the user message', async () => {
    await ollama.stop();
    try {
      const { id, sockets: members } = await room(1);
      const failures = collect<Failure>(members[0], 'message:error');
      const started = Date.now();
      const ack = await request<{ ok: boolean }>(members[1], 'message:send', {
        conversationId: id,
        content: 'anyone there?',
      });
      expect(ack.ok).toBe(true);
      await waitFor(() => failures.length === 1, { timeoutMs: 5000, what: 'message:error' });
      expect(Date.now() - started).toBeLessThan(5000);
      expect(failures[0].error.code).toBe('LLM_UNAVAILABLE');
      const stored = await sync(members[0], id);
      expect(stored.map((m) => [m.role, m.status, m.content])).toEqual([
        ['user', 'complete', 'anyone there?'],
        ['assistant', 'failed', ''],
      ]);
    } finally {
      await ollama.start();
    }
  });

  it.each([
    ['an error line mid-stream', { errorAfter: 3 }],
    ['a stream that hangs after 3 tokens', { hangAfter: 3 }],
  ])('ends %s in message:error and a failed message with the partial content', async (_case, script) => {
    ollama.script = { tokens: TOKENS, ...script };
    const { id, sockets: members } = await room(1);
    const failures = collect<Failure>(members[0], 'message:error');
    await request(members[0], 'message:send', { conversationId: id, content: 'tell me' });
    await waitFor(() => failures.length === 1, { timeoutMs: 5000, what: 'message:error' });
    expect(failures[0].error.code).toBe('LLM_UNAVAILABLE');
    const [, answer] = await sync(members[0], id);
    expect(answer).toMatchObject({
      id: failures[0].messageId,
      status: 'failed',
      content: TOKENS.slice(0, 3).join(''),
    });
  });

  it('lets a client that reconnects to another worker mid-answer stitch exactly the full answer', async () => {
    ollama.script = { tokens: TOKENS, tokenDelayMs: 100 };
    const { id, sockets: members } = await room(1);
    const [leaver, sender] = members;
    const firstPid = await pidOf(leaver);
    const done = collect<Done>(sender, 'message:done');
    const firstDeltas = collect<Delta>(leaver, 'message:delta');
    await request(sender, 'message:send', { conversationId: id, content: 'a long answer please' });
    await waitFor(() => firstDeltas.length >= 5, { what: 'a few deltas' });
    leaver.close();
    await sleep(1500);

    // Reconnect until the new socket lives on another worker.
    let again: ChatClient | undefined;
    for (let tries = 0; tries < 8 && !again; tries++) {
      const candidate = await connect('alice');
      if ((await pidOf(candidate)) !== firstPid) again = candidate;
      else candidate.close();
    }
    expect(again).toBeDefined();
    const later = collect<Delta>(again!, 'message:delta');
    const laterDone = collect<Done>(again!, 'message:done');
    await request(again!, 'conversation:join', { conversationId: id });
    const [, partial] = await sync(again!, id);
    expect(partial.status).toBe('streaming');
    expect(partial.nextIndex).toBeGreaterThan(0);
    await waitFor(() => done.length === 1 && laterDone.length === 1, {
      timeoutMs: 10_000,
      what: 'the end of the answer',
    });

    const stitched =
      partial.content +
      later
        .filter((d) => d.messageId === partial.id && d.index >= partial.nextIndex!)
        .sort((a, b) => a.index - b.index)
        .map((d) => d.delta)
        .join('');
    expect(stitched).toBe(done[0].message.content);
    expect(stitched).toBe(TOKENS.join(''));
  });

  it('fails an answer whose worker was SIGKILLed mid-stream within 60 s, and tells the other clients', async () => {
    ollama.script = { tokens: TOKENS, tokenDelayMs: 2000 };
    const { id, sockets: members } = await room(2);
    const senderPid = await pidOf(members[0]);
    const watchers: ChatClient[] = [];
    for (const socket of members) if ((await pidOf(socket)) !== senderPid) watchers.push(socket);
    expect(watchers.length).toBeGreaterThan(0);
    const failures = collect<Failure>(watchers[0], 'message:error');
    const firstDelta = collect<Delta>(watchers[0], 'message:delta');
    await request(members[0], 'message:send', { conversationId: id, content: 'slow answer' });
    await waitFor(() => firstDelta.length >= 1, { what: 'the answer streaming' });
    process.kill(senderPid, 'SIGKILL');
    const killedAt = Date.now();
    await waitFor(() => failures.length === 1, {
      timeoutMs: 60_000,
      intervalMs: 500,
      what: 'message:error from the sweeper',
    });
    expect(Date.now() - killedAt).toBeLessThan(60_000);
    const [, answer] = await sync(watchers[0], id);
    expect(answer).toMatchObject({ id: failures[0].messageId, status: 'failed' });
    // Whatever was checkpointed before the crash (possibly nothing) is kept.
    expect(TOKENS.join('').startsWith(answer.content)).toBe(true);
  }, 90_000);
});
