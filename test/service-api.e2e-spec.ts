import { spawnSync } from 'node:child_process';
import { JwtService } from '@nestjs/jwt';
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
import { registerToken } from './support/log-audit.js';
import { sleep, waitFor } from './support/ports.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

/**
 * Contract §6 from outside the chat, on 2 workers with Redis: another service posts into a
 * conversation over HTTP with a service token, and a separate process shows an ephemeral status in a
 * room through @socket.io/redis-emitter. Both reach the sockets of both workers.
 */
const PREFIX = 'service-api';
let redis: RedisServer;
let ollama: FakeOllama;
let service: ServiceProcess;
let conversationId: string;
let members: ChatClient[];

function serviceToken(sub = 'indexer', scope: string | undefined = 'service'): string {
  const token = new JwtService({ secret: TEST_JWT_SECRET }).sign(
    { sub, ...(scope ? { scope } : {}) },
    { algorithm: 'HS256', expiresIn: 600 },
  );
  registerToken(token);
  return token;
}

async function post(
  body: unknown,
  {
    token = serviceToken(),
    id = conversationId,
    raw,
  }: { token?: string | null; id?: string; raw?: string } = {},
): Promise<{ status: number; body: { message?: MessageView; error?: { code: string; message: string } } }> {
  const response = await fetch(`${service.baseUrl}/api/conversations/${encodeURIComponent(id)}/messages`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: raw ?? JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as never };
}

beforeAll(async () => {
  [redis, ollama] = await Promise.all([RedisServer.start(), FakeOllama.start()]);
  service = await ServiceProcess.launch({
    WORKERS: '2',
    REDIS_ENABLED: 'true',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: PREFIX,
    JWT_SECRET: TEST_JWT_SECRET,
    OLLAMA_URL: ollama.url,
  });
  await waitFor(async () => service.alive && (await service.get('/api/ready')).status === 200, {
    timeoutMs: 60_000,
    what: 'ready',
  });
  members = [];
  for (const user of ['alice', 'bob', 'alice', 'bob'])
    members.push(await connectChat(service.baseUrl, tokenFor(user)));
  expect(new Set(await Promise.all(members.map((m) => workerPidOf(redis, PREFIX, m)))).size).toBe(2);
  const created = await request<{ conversation: { id: string } }>(members[0], 'conversation:create', {
    memberIds: ['bob'],
  });
  conversationId = created.conversation.id;
  for (const member of members) await request(member, 'conversation:join', { conversationId });
}, 90_000);

afterAll(async () => {
  for (const member of members ?? []) member.close();
  await stopAllServices();
  await Promise.all([redis?.stop(), ollama?.stop()]);
});

describe('POST /api/conversations/:id/messages', () => {
  it('stores a service message, broadcasts it to every socket of the room on both workers, never answers it', async () => {
    const inboxes = members.map((m) => collect<MessageView>(m, 'message:new'));
    const answeredBefore = ollama.chatRequests.length;
    const created = await post({ content: 'Indexed 3 new documents', clientMessageId: 'job-1' });
    expect(created.status).toBe(201);
    expect(created.body.message).toMatchObject({
      conversationId,
      role: 'assistant',
      authorId: 'indexer',
      content: 'Indexed 3 new documents',
      status: 'complete',
      sources: [],
    });
    await waitFor(() => inboxes.every((inbox) => inbox.length === 1), {
      what: 'message:new on all 4 sockets',
    });
    expect(inboxes.map((inbox) => inbox[0].id)).toEqual(Array(4).fill(created.body.message!.id));

    // Idempotent: the same key returns the first message (200), broadcast nothing more.
    const repeated = await post({ content: 'Indexed 3 new documents', clientMessageId: 'job-1' });
    expect(repeated.status).toBe(200);
    expect(repeated.body.message!.id).toBe(created.body.message!.id);

    const asUser = await post({ content: 'Posted for a user', role: 'user', authorId: 'ci-bot' });
    expect(asUser.status).toBe(201);
    expect(asUser.body.message).toMatchObject({ role: 'user', authorId: 'ci-bot' });
    expect(asUser.body.message).not.toHaveProperty('sources');
    await sleep(1000);
    expect(inboxes.map((inbox) => inbox.length)).toEqual([2, 2, 2, 2]);
    expect(ollama.chatRequests.length).toBe(answeredBefore); // neither was answered

    const synced = await request<{ messages: MessageView[] }>(members[1], 'conversation:sync', {
      conversationId,
      afterSeq: 0,
    });
    expect(synced.messages.map((m) => m.content)).toEqual(['Indexed 3 new documents', 'Posted for a user']);
  });

  it('answers 401 without a valid token and 403 to a user token', async () => {
    expect(await post({ content: 'x' }, { token: null })).toMatchObject({
      status: 401,
      body: { error: { code: 'UNAUTHORIZED' } },
    });
    const forged = new JwtService({ secret: 'another-secret-another-secret-0000' }).sign(
      { sub: 'indexer', scope: 'service' },
      { expiresIn: 60 },
    );
    expect((await post({ content: 'x' }, { token: forged })).status).toBe(401);
    expect((await post({ content: 'x' }, { token: serviceToken('indexer', 'admin') })).status).toBe(403);
    expect(await post({ content: 'x' }, { token: tokenFor('alice') })).toMatchObject({
      status: 403,
      body: { error: { code: 'FORBIDDEN' } },
    });
  });

  it.each([
    ['empty content', { content: '   ' }],
    ['content too long', { content: 'x'.repeat(8001) }],
    ['a NUL character', { content: 'a\u0000b' }],
    ['an unknown role', { content: 'x', role: 'system' }],
    ['an unknown field', { content: 'x', conversationId: 'other' }],
    ['an authorId too long', { content: 'x', authorId: 'a'.repeat(129) }],
    ['not an object', ['x']],
  ])('answers 400 VALIDATION_FAILED to %s, storing nothing', async (_, body) => {
    const answer = await post(body);
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('VALIDATION_FAILED');
  });

  it('answers 400 to a body that is not JSON and 404 to an unknown conversation', async () => {
    expect(await post(undefined, { raw: '{"content":' })).toMatchObject({
      status: 400,
      body: { error: { code: 'VALIDATION_FAILED' } },
    });
    expect(await post({ content: 'x' }, { id: '01890000-0000-7000-8000-000000000000' })).toMatchObject({
      status: 404,
      body: { error: { code: 'NOT_FOUND' } },
    });
    expect((await post({ content: 'x' }, { id: 'x'.repeat(65) })).status).toBe(404);
  });

  it('is described by the OpenAPI document served outside production', async () => {
    const document = await service.get<{ paths: Record<string, unknown> }>('/api/docs-json');
    expect(document.status).toBe(200);
    expect(Object.keys(document.body.paths)).toContain('/api/conversations/{id}/messages');
  });
});

describe('@socket.io/redis-emitter from another process', () => {
  it('shows an ephemeral status to every socket of the room on both workers', async () => {
    const statuses = members.map((m) =>
      collect<{ conversationId: string; text: string }>(m, 'conversation:status'),
    );
    const emitted = spawnSync(
      process.execPath,
      ['examples/redis-emitter/emit-status.mjs', conversationId, 'indexing 3 documents…'],
      { env: { PATH: process.env.PATH, REDIS_URL: redis.url, REDIS_KEY_PREFIX: PREFIX }, encoding: 'utf8' },
    );
    expect(emitted.status).toBe(0);
    await waitFor(() => statuses.every((s) => s.length === 1), { what: 'the status on all 4 sockets' });
    expect(statuses[3][0]).toEqual({ conversationId, text: 'indexing 3 documents…' });
  });
});
