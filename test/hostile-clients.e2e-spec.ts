import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { MessageView } from '../src/conversations/message.view.js';
import {
  connectChat,
  collect,
  request,
  TEST_JWT_SECRET,
  tokenFor,
  type ChatClient,
} from './support/chat-client.js';
import { sleep, waitFor } from './support/ports.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

interface Page {
  ok: boolean;
  messages: MessageView[];
  hasMore: boolean;
  error?: { code: string };
}

const PREFIX = 'hostile-e2e';
const MAX_PER_USER = 3;
let redis: RedisServer;
let service: ServiceProcess;
const sockets: ChatClient[] = [];

async function client(userId: string, options = {}): Promise<ChatClient> {
  const socket = await connectChat(service.baseUrl, tokenFor(userId), options);
  sockets.push(socket);
  return socket;
}

async function joinedRoom(owner: ChatClient, members: ChatClient[], memberIds: string[]): Promise<string> {
  const created = await request<{ conversation: { id: string } }>(owner, 'conversation:create', {
    memberIds,
  });
  const conversationId = created.conversation.id;
  for (const socket of [owner, ...members]) await request(socket, 'conversation:join', { conversationId });
  return conversationId;
}

/** Runs `act` while MONITOR watches Redis; returns the commands that touched a session hash. */
async function sessionWritesDuring(act: () => Promise<void>): Promise<string[]> {
  const observer = redis.client();
  const monitor = await observer.monitor();
  const writes: string[] = [];
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args.some((arg) => arg.startsWith(`${PREFIX}:session:`))) writes.push(args.join(' '));
  });
  try {
    await act();
    await sleep(200);
  } finally {
    monitor.disconnect();
    observer.disconnect();
  }
  return writes;
}

/** Calls of one Redis command since the server started (INFO commandstats). */
async function redisCalls(command: string): Promise<number> {
  const observer = redis.client();
  try {
    const stats = await observer.info('commandstats');
    return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  } finally {
    observer.disconnect();
  }
}

/** Adds `count` messages of `size` characters straight into the service's SQLite file (the API is rate-limited). */
function seedMessages(conversationId: string, authorId: string, count: number, size: number): void {
  const database = new Database(join(service.dataDir, 'chat.db'));
  try {
    const insert = database.prepare(
      `INSERT INTO messages (id, conversation_id, seq, role, author_id, content, status)
       VALUES (?, ?, ?, 'user', ?, ?, 'complete')`,
    );
    database.transaction(() => {
      for (let seq = 1; seq <= count; seq++)
        insert.run(randomUUID(), conversationId, seq, authorId, `${seq} `.padEnd(size, 'x'));
    })();
  } finally {
    database.close();
  }
}

beforeAll(async () => {
  redis = await RedisServer.start();
  service = await ServiceProcess.start({
    WORKERS: '2',
    REDIS_ENABLED: 'true',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: PREFIX,
    JWT_SECRET: TEST_JWT_SECRET,
    MAX_CONNECTIONS_PER_USER: String(MAX_PER_USER),
  });
});

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});

afterAll(async () => {
  await stopAllServices();
  await redis.stop();
});

describe('conversation:sync is paged', () => {
  it('answers a long conversation a bounded page at a time, every message once, in order', async () => {
    const alice = await client('pager');
    const conversationId = await joinedRoom(alice, [], []);
    seedMessages(conversationId, 'pager', 600, 8000);

    const first = await request<Page>(alice, 'conversation:sync', { conversationId, afterSeq: 0 }, 20_000);
    // 4.8 million characters stored; a page carries at most 256 Ki of them (or `limit`, 100 by default).
    expect(first.ok).toBe(true);
    expect(first.hasMore).toBe(true);
    expect(first.messages.length).toBeGreaterThan(0);
    expect(first.messages.length).toBeLessThanOrEqual(100);
    expect(JSON.stringify(first).length).toBeLessThan(300 * 1024);

    const seqs = first.messages.map((m) => m.seq);
    let page = first;
    while (page.hasMore) {
      const afterSeq = seqs[seqs.length - 1];
      page = await request<Page>(
        alice,
        'conversation:sync',
        { conversationId, afterSeq, limit: 200 },
        20_000,
      );
      expect(page.ok).toBe(true);
      seqs.push(...page.messages.map((m) => m.seq));
    }
    expect(seqs).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
  });

  it('takes limit 1-200 and says hasMore: false on the last page of a short conversation', async () => {
    const alice = await client('short-pager');
    const conversationId = await joinedRoom(alice, [], []);
    for (const content of ['one', 'two', 'three'])
      await request(alice, 'message:send', { conversationId, content });
    // Each user message is followed by its assistant answer (failing: no Ollama here): 6 in all.
    const whole = await waitFor(async () => {
      const page = await request<Page>(alice, 'conversation:sync', { conversationId, afterSeq: 0 });
      return page.messages.length === 6 ? page : undefined;
    });
    expect(whole.hasMore).toBe(false);
    const limited = await request<Page>(alice, 'conversation:sync', {
      conversationId,
      afterSeq: 0,
      limit: 2,
    });
    expect(limited.messages.map((m) => m.seq)).toEqual([1, 2]);
    expect(limited.hasMore).toBe(true);
    const rest = await request<Page>(alice, 'conversation:sync', { conversationId, afterSeq: 4, limit: 2 });
    expect(rest.messages.map((m) => m.seq)).toEqual([5, 6]);
    expect(rest.hasMore).toBe(false);
    for (const limit of [0, 201, 1.5, '10'])
      expect(
        await request<Page>(alice, 'conversation:sync', { conversationId, afterSeq: 0, limit }),
      ).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
  });
});

describe('typing and leave cannot flood', () => {
  it('relays a flood of typing a few times a second, drops the rest, and leaves the send budget whole', async () => {
    const flooder = await client('typist');
    const bystander = await client('reader', { transports: ['websocket'] });
    const conversationId = await joinedRoom(flooder, [bystander], ['reader']);
    const relayed = collect(bystander, 'typing');
    const publishesBefore = await redisCalls('publish');

    const started = Date.now();
    for (let i = 0; i < 2000; i++) flooder.emit('typing', { conversationId, isTyping: i % 2 === 0 });
    await request(flooder, 'typing', { conversationId, isTyping: false }, 20_000);
    await sleep(500);
    const seconds = Math.ceil((Date.now() - started) / 1000) + 1;

    // Budget: 4 relays per second per user and conversation, counted by each of the 2 workers at most.
    expect(relayed.length).toBeGreaterThan(0);
    expect(relayed.length).toBeLessThanOrEqual(seconds * 4 * 2);
    expect((await redisCalls('publish')) - publishesBefore).toBeLessThan(200);
    // Typing spent none of the per-user event budget (100 per 30 s).
    expect(await request(flooder, 'message:send', { conversationId, content: 'still here' })).toMatchObject({
      ok: true,
    });
  });

  it('counts conversation:leave against the rate limit and writes nothing for a room the socket is not in', async () => {
    // Three sockets of one user, each under its own flood budget: only the per-user limit refuses.
    const leavers = await Promise.all([client('leaver'), client('leaver'), client('leaver')]);
    const conversationId = randomUUID();
    let answers: Page[] = [];
    const sessionWrites = await sessionWritesDuring(async () => {
      answers = await Promise.all(
        Array.from({ length: 135 }, (_, i) =>
          request<Page>(leavers[i % 3], 'conversation:leave', { conversationId }),
        ),
      );
    });
    const codes = answers.map((answer) => (answer.ok ? 'ok' : answer.error?.code));
    expect(codes.filter((code) => code === 'ok')).toHaveLength(100);
    expect(codes.filter((code) => code === 'RATE_LIMITED')).toHaveLength(35);
    expect(sessionWrites).toEqual([]);
  });

  it('answers a flood on one socket RATE_LIMITED past its budget, without disconnecting it or slowing others', async () => {
    const flooder = await client('flooder', { transports: ['websocket'] });
    const neighbour = await client('neighbour', { transports: ['websocket'] });
    const room = await joinedRoom(neighbour, [], []);
    const evalsBefore = await redisCalls('evalsha');
    const answers = await Promise.all(
      Array.from({ length: 500 }, () =>
        request<Page>(flooder, 'conversation:leave', { conversationId: room }, 20_000),
      ),
    );
    const codes = answers.map((answer) => (answer.ok ? 'ok' : answer.error?.code));
    // A burst of 60 (plus what refills meanwhile) reaches the handlers; the rest never costs Redis.
    expect(codes.filter((code) => code === 'ok').length).toBeLessThanOrEqual(100);
    expect(codes.filter((code) => code === 'RATE_LIMITED').length).toBeGreaterThanOrEqual(400);
    expect((await redisCalls('evalsha')) - evalsBefore).toBeLessThanOrEqual(110);
    expect(flooder.connected).toBe(true);
    expect(
      await request(neighbour, 'message:send', { conversationId: room, content: 'unbothered' }),
    ).toMatchObject({ ok: true });
  });
});

describe('connections per user', () => {
  it(`refuses a user's socket beyond MAX_CONNECTIONS_PER_USER (${MAX_PER_USER}) across workers, and frees a slot on disconnect`, async () => {
    const tabs = [];
    for (let i = 0; i < MAX_PER_USER; i++)
      tabs.push(await client('many-tabs', i % 2 ? { transports: ['websocket'] } : {}));
    // Spread over both workers: the cap is counted in Redis, not per process.
    await expect(connectChat(service.baseUrl, tokenFor('many-tabs'))).rejects.toThrow('too_many_connections');
    await expect(
      connectChat(service.baseUrl, tokenFor('many-tabs'), { transports: ['websocket'] }),
    ).rejects.toThrow('too_many_connections');
    // Another user is not affected.
    expect((await client('someone-else')).connected).toBe(true);

    tabs[0].close();
    const replacement = await waitFor(
      () => connectChat(service.baseUrl, tokenFor('many-tabs')).catch(() => undefined),
      { what: 'a freed slot' },
    );
    sockets.push(replacement);
    expect(replacement.connected).toBe(true);
  });

  it('closes an Engine.IO session that never connects to /chat within 20 s', async () => {
    const handshake = await fetch(`${service.baseUrl}/socket.io/?EIO=4&transport=polling`);
    const sid = /"sid":"([^"]+)"/.exec(await handshake.text())?.[1];
    expect(sid).toBeDefined();
    const started = Date.now();
    // Long-polls until the server closes the session (Socket.IO's own default waits 45 s).
    await waitFor(
      async () => {
        const poll = await fetch(`${service.baseUrl}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
        const body = await poll.text();
        return poll.status === 400 || body.split('\x1e').includes('1') ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 0, what: 'the idle session closed' },
    );
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});

describe('idempotency keys and sources', () => {
  it('treats the same clientMessageId in another conversation as a new message', async () => {
    const alice = await client('keys');
    const first = await joinedRoom(alice, [], []);
    const second = await joinedRoom(alice, [], []);
    const a = await request<{ message: MessageView }>(alice, 'message:send', {
      conversationId: first,
      content: 'in the first',
      clientMessageId: 'key-1',
    });
    const b = await request<{ message: MessageView }>(alice, 'message:send', {
      conversationId: second,
      content: 'in the second',
      clientMessageId: 'key-1',
    });
    expect(b.message).toMatchObject({ conversationId: second, content: 'in the second' });
    expect(b.message.id).not.toBe(a.message.id);
    const retried = await request<{ message: MessageView }>(alice, 'message:send', {
      conversationId: second,
      content: 'in the second',
      clientMessageId: 'key-1',
    });
    expect(retried.message.id).toBe(b.message.id);
  });

  it('gives every assistant message a sources array, [] when nothing was retrieved', async () => {
    const alice = await client('asker');
    const conversationId = await joinedRoom(alice, [], []);
    const started = collect<MessageView>(alice, 'message:new');
    await request(alice, 'message:send', { conversationId, content: 'anyone there?' });
    // No Ollama here: the answer fails, and is stored failed with no sources.
    await waitFor(() => started.some((m) => m.role === 'assistant'), { what: 'the answer starting' });
    const synced = await waitFor(async () => {
      const page = await request<Page>(alice, 'conversation:sync', { conversationId, afterSeq: 0 });
      const answer = page.messages.find((m) => m.role === 'assistant');
      return answer?.status === 'failed' ? answer : undefined;
    });
    expect(synced.sources).toEqual([]);
    expect(started.find((m) => m.role === 'assistant')?.sources).toEqual([]);
    expect(started.find((m) => m.role === 'user')).not.toHaveProperty('sources');
  });
});
