import { randomUUID } from 'node:crypto';
import {
  connectChat,
  collect,
  expectDeliveryAcross,
  request,
  TEST_JWT_SECRET,
  tokenFor,
  type ChatClient,
} from './support/chat-client.js';
import type { MessageView } from '../src/conversations/message.view.js';
import { sleep, waitFor } from './support/ports.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

interface AckError {
  ok: false;
  error: { code: string; message: string };
}

const ORIGIN = 'https://chat.example.com';
/** Every user message also gets an assistant answer (failing here: no Ollama): most checks look at user messages. */
const userMessages = (messages: MessageView[]) => messages.filter((m) => m.role === 'user');
let redis: RedisServer;
let service: ServiceProcess;
const sockets: ChatClient[] = [];

async function client(userId: string, options = {}): Promise<ChatClient> {
  const socket = await connectChat(service.baseUrl, tokenFor(userId), options);
  sockets.push(socket);
  return socket;
}

async function conversationOf(owner: ChatClient, memberIds: string[] = []): Promise<string> {
  const created = await request<{ ok: true; conversation: { id: string } }>(owner, 'conversation:create', {
    title: 'Support',
    memberIds,
  });
  expect(created.ok).toBe(true);
  return created.conversation.id;
}

beforeAll(async () => {
  redis = await RedisServer.start();
  service = await ServiceProcess.start({
    REDIS_ENABLED: 'true',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: 'chat-e2e',
    JWT_SECRET: TEST_JWT_SECRET,
    CORS_ORIGINS: ORIGIN,
  });
});

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});

afterAll(async () => {
  await stopAllServices();
  await redis.stop();
});

describe('authentication, before the connection is accepted', () => {
  const refusals: [string, () => string | undefined][] = [
    ['no token', () => undefined],
    [
      'a token signed with another secret',
      () => tokenFor('mallory', { secret: 'another-secret-another-secret-0000' }),
    ],
    ['an expired token', () => tokenFor('alice', { expiresInSeconds: -10 })],
    [
      'an alg:none token',
      () => {
        const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
        return `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ sub: 'alice', name: 'A', exp: Date.now() / 1000 + 600 })}.`;
      },
    ],
    ['garbage', () => 'not.a.jwt'],
  ];

  it.each(refusals)('refuses %s with connect_error "unauthorized"', async (_case, token) => {
    for (const transports of [['polling', 'websocket'], ['websocket']]) {
      await expect(connectChat(service.baseUrl, token(), { transports })).rejects.toThrow('unauthorized');
    }
  });

  it('refuses a foreign Origin on polling and on websocket handshakes', async () => {
    for (const transports of [['polling'], ['websocket']]) {
      await expect(
        connectChat(service.baseUrl, tokenFor('alice'), {
          transports,
          extraHeaders: { Origin: 'https://evil.example' },
        }),
      ).rejects.toThrow();
    }
    const allowed = await client('alice', { extraHeaders: { Origin: ORIGIN } });
    expect(allowed.connected).toBe(true);
  });

  it('disconnects a socket when its token expires', async () => {
    const socket = await connectChat(service.baseUrl, tokenFor('short-lived', { expiresInSeconds: 2 }));
    sockets.push(socket);
    const reason = await new Promise<string>((resolve) => socket.once('disconnect', resolve));
    expect(reason).toBe('io server disconnect');
  });
});

describe('conversations and messages', () => {
  it('delivers message:new to every socket of the room exactly once, with rising seq', async () => {
    const alice = await client('alice');
    const aliceTab2 = await client('alice', { transports: ['websocket'] });
    const bob = await client('bob');
    const id = await conversationOf(alice, ['bob']);
    for (const socket of [alice, aliceTab2, bob]) {
      expect(await request(socket, 'conversation:join', { conversationId: id })).toEqual({
        ok: true,
        conversationId: id,
        messages: [],
      });
    }
    const inboxes = [alice, aliceTab2, bob].map((socket) => collect<MessageView>(socket, 'message:new'));

    const first = await request<{ ok: true; message: MessageView }>(bob, 'message:send', {
      conversationId: id,
      content: 'hello',
    });
    const second = await request<{ ok: true; message: MessageView }>(alice, 'message:send', {
      conversationId: id,
      content: 'hi bob',
    });
    expect(first.message).toMatchObject({
      seq: 1,
      role: 'user',
      authorId: 'bob',
      content: 'hello',
      status: 'complete',
    });
    // Each user message is followed by its assistant answer's message, which takes the next seq.
    expect(second.message.seq).toBeGreaterThan(first.message.seq);
    expect(new Date(first.message.createdAt).toISOString()).toBe(first.message.createdAt);

    await waitFor(() => inboxes.every((inbox) => userMessages(inbox).length === 2), {
      what: 'two deliveries to each socket',
    });
    await sleep(300);
    for (const inbox of inboxes) {
      expect(userMessages(inbox).map((m) => m.seq)).toEqual([first.message.seq, second.message.seq]);
    }
    expect(service.output).toContain('WebSocket connected: User bob (sid: ');
    expect(service.output).toMatch(new RegExp(`User bob joined conversation ${id}`));
  });

  it('returns the first message for a repeated clientMessageId, and broadcasts it once', async () => {
    const alice = await client('alice');
    const id = await conversationOf(alice);
    await request(alice, 'conversation:join', { conversationId: id });
    const inbox = collect<MessageView>(alice, 'message:new');
    const payload = { conversationId: id, content: 'only once', clientMessageId: 'c-42' };
    const [a, b] = await Promise.all([
      request<{ message: MessageView }>(alice, 'message:send', payload),
      request<{ message: MessageView }>(alice, 'message:send', payload),
    ]);
    const c = await request<{ message: MessageView }>(alice, 'message:send', payload);
    expect(new Set([a.message.id, b.message.id, c.message.id]).size).toBe(1);
    await sleep(300);
    expect(userMessages(inbox)).toHaveLength(1);
    const synced = await request<{ messages: MessageView[] }>(alice, 'conversation:sync', {
      conversationId: id,
      afterSeq: 0,
    });
    expect(userMessages(synced.messages).map((m) => m.content)).toEqual(['only once']);
    // One answer for one message, however often it was sent.
    expect(synced.messages.filter((m) => m.role === 'assistant')).toHaveLength(1);
  });

  it('syncs every message after a seq, in order', async () => {
    const alice = await client('alice');
    const id = await conversationOf(alice);
    const sent: MessageView[] = [];
    for (let i = 1; i <= 5; i++) {
      const ack = await request<{ message: MessageView }>(alice, 'message:send', {
        conversationId: id,
        content: `m${i}`,
      });
      sent.push(ack.message);
    }
    const synced = await request<{ ok: true; messages: MessageView[] }>(alice, 'conversation:sync', {
      conversationId: id,
      afterSeq: sent[1].seq,
    });
    const seqs = synced.messages.map((m) => m.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(seqs.every((seq) => seq > sent[1].seq)).toBe(true);
    expect(userMessages(synced.messages).map((m) => m.content)).toEqual(['m3', 'm4', 'm5']);
    const joined = await request<{ messages: MessageView[] }>(alice, 'conversation:join', {
      conversationId: id,
    });
    expect(userMessages(joined.messages)).toHaveLength(5);
  });

  it('relays typing to the others in the room, not back to the typist', async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    const id = await conversationOf(alice, ['bob']);
    await request(alice, 'conversation:join', { conversationId: id });
    await request(bob, 'conversation:join', { conversationId: id });
    const seenByBob = collect(bob, 'typing');
    const seenByAlice = collect(alice, 'typing');
    expect(await request(alice, 'typing', { conversationId: id, isTyping: true })).toEqual({ ok: true });
    await waitFor(() => seenByBob.length === 1, { what: 'typing at bob' });
    expect(seenByBob[0]).toEqual({ conversationId: id, userId: 'alice', name: 'User alice', isTyping: true });
    expect(seenByAlice).toHaveLength(0);
  });

  it('answers FORBIDDEN to a non-member on join, sync and send, and the same for no such conversation', async () => {
    const alice = await client('alice');
    const mallory = await client('mallory');
    const id = await conversationOf(alice);
    for (const conversationId of [id, randomUUID()]) {
      for (const [event, payload] of [
        ['conversation:join', { conversationId }],
        ['conversation:sync', { conversationId, afterSeq: 0 }],
        ['message:send', { conversationId, content: 'let me in' }],
      ] as const) {
        // Same code and message: a non-member cannot tell an existing conversation from a guess.
        expect(await request<AckError>(mallory, event, payload)).toEqual({
          ok: false,
          error: { code: 'FORBIDDEN', message: 'You are not a member of this conversation' },
        });
      }
    }
    const synced = await request<{ messages: MessageView[] }>(alice, 'conversation:sync', {
      conversationId: id,
      afterSeq: 0,
    });
    expect(synced.messages).toEqual([]);
  });
});

describe('bad input costs nothing but the bad request', () => {
  it('refuses each bad payload with VALIDATION_FAILED while a control client keeps chatting', async () => {
    const attacker = await client('attacker');
    const control = await client('control');
    const controlRoom = await conversationOf(control);
    const attackerRoom = await conversationOf(attacker);
    await request(control, 'conversation:join', { conversationId: controlRoom });

    const bad: unknown[] = [
      { conversationId: attackerRoom },
      { conversationId: attackerRoom, content: '' },
      { conversationId: attackerRoom, content: '   ' },
      { conversationId: attackerRoom, content: 'x'.repeat(8001) },
      { conversationId: attackerRoom, content: 'nul \u0000 inside' },
      { conversationId: attackerRoom, content: 42 },
      { conversationId: 7, content: 'hi' },
      { conversationId: attackerRoom, content: 'hi', clientMessageId: { $gt: '' } },
      { conversationId: attackerRoom, content: 'hi', extra: 'field' },
      null,
      [],
      ['x', 'y'],
      'a string',
      12,
    ];
    for (const payload of bad) {
      const answer = await request<AckError>(attacker, 'message:send', payload);
      expect(answer).toEqual({
        ok: false,
        error: { code: 'VALIDATION_FAILED', message: expect.any(String) },
      });
    }
    expect(
      await request<AckError>(attacker, 'conversation:sync', { conversationId: attackerRoom, afterSeq: -1 }),
    ).toMatchObject({
      error: { code: 'VALIDATION_FAILED' },
    });
    expect(
      await request<AckError>(attacker, 'typing', { conversationId: attackerRoom, isTyping: 'yes' }),
    ).toMatchObject({
      error: { code: 'VALIDATION_FAILED' },
    });

    // No ack callback, unknown events: nothing answers, nothing breaks.
    attacker.emit('message:send', { conversationId: attackerRoom, content: 'fire and forget' });
    attacker.emit('message:send', null);
    attacker.emit('no:such:event', { x: 1 });
    attacker.emit('conversation:create');
    await sleep(200);
    expect(attacker.connected).toBe(true);
    const stored = await request<{ messages: MessageView[] }>(attacker, 'conversation:sync', {
      conversationId: attackerRoom,
      afterSeq: 0,
    });
    expect(userMessages(stored.messages).map((m) => m.content)).toEqual(['fire and forget']);

    const reply = await request<{ ok: boolean }>(control, 'message:send', {
      conversationId: controlRoom,
      content: 'still here',
    });
    expect(reply.ok).toBe(true);
    expect(service.output).not.toMatch(/Internal server error/);
  });

  it.each([
    ['a 100k-character message', () => 'x'.repeat(100_000)],
    ['a 5 MB frame', () => 'x'.repeat(5 * 1024 * 1024)],
  ])('drops only the socket that sends %s', async (_case, content) => {
    for (const transports of [['polling'], ['websocket']]) {
      const attacker = await client('attacker', { transports });
      const control = await client('control');
      const room = await conversationOf(control);
      await request(control, 'conversation:join', { conversationId: room });
      const gone = new Promise<string>((resolve) => attacker.once('disconnect', resolve));
      attacker.emit('message:send', { conversationId: room, content: content() }, () => undefined);
      expect(await gone).toMatch(/transport (close|error)|ping timeout|parse error/);
      const reply = await request<{ ok: boolean }>(control, 'message:send', {
        conversationId: room,
        content: 'unharmed',
      });
      expect(reply.ok).toBe(true);
    }
    expect((await service.get('/api/health')).status).toBe(200);
  });

  it('answers RATE_LIMITED once a user exceeds the limit, on any of their sockets', async () => {
    const first = await client('chatty');
    const second = await client('chatty');
    const room = await conversationOf(first);
    const answers = await Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        request<{ ok: boolean; error?: { code: string } }>(i % 2 ? first : second, 'message:send', {
          conversationId: room,
          content: `spam ${i}`,
        }),
      ),
    );
    const limited = answers.filter((a) => !a.ok);
    expect(limited.length).toBeGreaterThan(0);
    expect(new Set(limited.map((a) => a.error?.code))).toEqual(new Set(['RATE_LIMITED']));
    const other = await client('calm');
    expect((await request<{ ok: boolean }>(other, 'conversation:create', {})).ok).toBe(true);
  });
});

describe('sessions in Redis', () => {
  it('keeps a hash per live socket with a TTL and deletes it on disconnect', async () => {
    const observer = redis.client();
    const alice = await client('alice');
    const id = await conversationOf(alice);
    await request(alice, 'conversation:join', { conversationId: id });
    const key = `chat-e2e:session:${alice.id}`;
    const hash = await observer.hgetall(key);
    expect(hash).toMatchObject({
      userId: 'alice',
      name: 'User alice',
      pid: String(service.child.pid),
      conversations: JSON.stringify([id]),
    });
    expect(new Date(hash.connectedAt).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(await observer.ttl(key)).toBeGreaterThan(3000);
    alice.close();
    await waitFor(async () => (await observer.exists(key)) === 0, {
      timeoutMs: 5000,
      what: 'session hash deleted',
    });
    observer.disconnect();
  });
});

describe('two instances sharing one Redis', () => {
  it('delivers a message sent through one to the room members on the other', async () => {
    const other = await ServiceProcess.start({
      REDIS_ENABLED: 'true',
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: 'chat-e2e',
      JWT_SECRET: TEST_JWT_SECRET,
      CORS_ORIGINS: ORIGIN,
      DATABASE_URL: `sqlite:${service.dataDir}/chat.db`,
    });
    await expectDeliveryAcross(service, other);
    await other.stop();
  });
});

describe('ASSISTANT_ENABLED=false', () => {
  it('stores and delivers user messages and answers none', async () => {
    const plain = await ServiceProcess.start({
      REDIS_ENABLED: 'true',
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: 'chat-e2e-plain',
      JWT_SECRET: TEST_JWT_SECRET,
      ASSISTANT_ENABLED: 'false',
    });
    const alice = await connectChat(plain.baseUrl, tokenFor('alice'));
    sockets.push(alice);
    const id = (await request<{ conversation: { id: string } }>(alice, 'conversation:create', {}))
      .conversation.id;
    await request(alice, 'conversation:join', { conversationId: id });
    const inbox = collect<MessageView>(alice, 'message:new');
    await request(alice, 'message:send', { conversationId: id, content: 'just us humans' });
    await sleep(1500);
    expect(inbox.map((m) => m.role)).toEqual(['user']);
    const synced = await request<{ messages: MessageView[] }>(alice, 'conversation:sync', {
      conversationId: id,
      afterSeq: 0,
    });
    expect(synced.messages.map((m) => [m.role, m.content])).toEqual([['user', 'just us humans']]);
    await plain.stop();
  });
});
