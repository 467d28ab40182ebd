import { hostname } from 'node:os';
import { adminLogin, connectAdmin, type AdminSession } from './support/admin-ui.js';
import {
  connectChat,
  TEST_JWT_SECRET,
  tokenFor,
  type ChatClient,
  workerPidOf,
} from './support/chat-client.js';
import { registerSecret, type SecretKind } from './support/log-audit.js';
import { sleep, waitFor } from './support/ports.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

/**
 * The Socket.IO admin UI (@socket.io/admin-ui) on real processes: two workers behind the sticky primary,
 * Redis between them, an admin client speaking the UI's protocol. Read-only and writable services run
 * side by side, each under its own key prefix in one Redis.
 */

const login = adminLogin();
const credentials = { username: login.username, password: login.password };
const WRITE_FEATURES = ['EMIT', 'JOIN', 'LEAVE', 'DISCONNECT', 'MJOIN', 'MLEAVE', 'MDISCONNECT'];
let redis: RedisServer;
const services: Record<'readOnly' | 'writable', { service: ServiceProcess; prefix: string }> = {} as never;
const opened: { close(): unknown }[] = [];

async function startWithAdminUi(prefix: string, env: Record<string, string> = {}) {
  const service = await ServiceProcess.start({
    WORKERS: '2',
    REDIS_ENABLED: 'true',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: prefix,
    JWT_SECRET: TEST_JWT_SECRET,
    SHUTDOWN_GRACE_MS: '5000',
    ADMIN_UI_USERNAME: login.username,
    ADMIN_UI_PASSWORD_HASH: login.hash,
    ...env,
  });
  await waitFor(() => service.workerPorts().size === 2, { timeoutMs: 30_000, what: 'both workers' });
  return { service, prefix };
}

/** Chat clients until both workers hold some: each socket with the pid of its worker. */
async function chatOnBothWorkers({ service, prefix }: { service: ServiceProcess; prefix: string }) {
  const sockets: { socket: ChatClient; pid: number }[] = [];
  for (let i = 0; i < 12 && new Set(sockets.map((s) => s.pid)).size < 2; i++) {
    const socket = await connectChat(service.baseUrl, tokenFor(`user-${prefix}-${i}`));
    opened.push(socket);
    sockets.push({ socket, pid: await waitFor(() => workerPidOf(redis, prefix, socket)) });
  }
  expect(new Set(sockets.map((s) => s.pid)).size).toBe(2);
  return sockets;
}

async function admin(baseUrl: string, auth: Record<string, unknown>): Promise<AdminSession> {
  const session = await connectAdmin(baseUrl, auth);
  opened.push(session.socket);
  return session;
}

beforeAll(async () => {
  redis = await RedisServer.start();
  const [readOnly, writable] = await Promise.all([
    startWithAdminUi('admin-ro'),
    startWithAdminUi('admin-rw', { ADMIN_UI_READONLY: 'false' }),
  ]);
  Object.assign(services, { readOnly, writable });
}, 60_000);

afterEach(() => {
  for (const socket of opened.splice(0)) socket.close();
});

afterAll(async () => {
  await stopAllServices();
  await redis.stop();
});

describe('the admin UI on /admin, WORKERS=2 with Redis', () => {
  it('refuses a missing, wrong or malformed login with "invalid credentials", and keeps serving', async () => {
    const { service } = services.readOnly;
    const refused = [
      {},
      { username: login.username },
      { username: login.username, password: 'not-the-password' },
      { username: login.username, password: 42 },
      { username: 'root', password: login.password },
      { sessionId: '0123456789abcdef' },
      { sessionId: { $gt: '' }, username: login.username },
      // The service's handshake token is no admin login.
      { token: tokenFor('mallory') },
    ];
    for (const auth of refused)
      await expect(connectAdmin(service.baseUrl, auth)).rejects.toThrow('invalid credentials');
    expect(service.alive).toBe(true);
    expect(service.output).not.toMatch(/Unhandled promise rejection/);
  });

  it('lists the sockets of both workers (all_sockets) and hears each worker (server_stats), read-only', async () => {
    const chat = await chatOnBothWorkers(services.readOnly);
    const session = await admin(services.readOnly.service.baseUrl, credentials);
    expect(session.sessionId).toMatch(/^[0-9a-f]{16}$/);
    // Read-only: the UI is offered no join, leave, emit or disconnect.
    expect(session.features.filter((f) => WRITE_FEATURES.includes(f))).toEqual([]);
    const listed = session.allSockets.filter((s) => s.nsp === '/chat').map((s) => s.id);
    expect(listed.sort()).toEqual(chat.map((c) => c.socket.id).sort());
    // The handshake's auth (the user's token) is never sent to the UI.
    expect(JSON.stringify(session.allSockets)).not.toMatch(/token|eyJ/);
    const serverIds = [...new Set(chat.map((c) => `${hostname()}#${c.pid}`))].sort();
    await waitFor(() => new Set(session.stats.map((s) => s.serverId)).size === 2, {
      what: 'server_stats from both workers',
    });
    expect([...new Set(session.stats.map((s) => s.serverId))].sort()).toEqual(serverIds);
    const latest = serverIds.map((id) => session.stats.filter((s) => s.serverId === id).pop()!);
    const chatCount = (stats: AdminSession['stats'][number]) =>
      stats.namespaces.find((n) => n.name === '/chat')?.socketsCount ?? 0;
    expect(latest.reduce((sum, stats) => sum + chatCount(stats), 0)).toBe(chat.length);
  });

  it('read-only: a disconnect sent anyway has no effect', async () => {
    const chat = await chatOnBothWorkers(services.readOnly);
    const session = await admin(services.readOnly.service.baseUrl, credentials);
    for (const { socket } of chat) session.socket.emit('_disconnect', '/chat', false, socket.id);
    session.socket.emit('_disconnect', '/chat', true);
    await sleep(1500);
    expect(chat.map((c) => c.socket.connected)).toEqual(chat.map(() => true));
  });

  it('writable (ADMIN_UI_READONLY=false): disconnects sockets on either worker, and logs who asked', async () => {
    const { service } = services.writable;
    const chat = await chatOnBothWorkers(services.writable);
    const session = await admin(service.baseUrl, credentials);
    expect(session.features).toEqual(expect.arrayContaining(['DISCONNECT', 'MDISCONNECT']));
    const reasons = chat.map(({ socket }) => new Promise((resolve) => socket.once('disconnect', resolve)));
    for (const { socket } of chat) session.socket.emit('_disconnect', '/chat', false, socket.id);
    expect(await Promise.all(reasons)).toEqual(chat.map(() => 'io server disconnect'));
    await service.waitForOutput(/Admin UI _disconnect on \/chat/);
  });

  it('a session opened on one worker is accepted by the other (sessions in Redis)', async () => {
    const { service } = services.readOnly;
    const [first, second] = [...service.workerPorts().values()].map((port) => `http://127.0.0.1:${port}`);
    const opening = await admin(first, credentials);
    const resumed = await admin(second, { sessionId: opening.sessionId });
    expect(resumed.socket.connected).toBe(true);
    expect(resumed.sessionId).toBeUndefined();
  });

  it('takes the UI from https://admin.socket.io once CORS_ORIGINS lists it, and no other origin', async () => {
    const service = await ServiceProcess.start({
      JWT_SECRET: TEST_JWT_SECRET,
      CORS_ORIGINS: 'https://admin.socket.io',
      ADMIN_UI_USERNAME: login.username,
      ADMIN_UI_PASSWORD_HASH: login.hash,
    });
    // The UI's first request (Engine.IO's handshake, before any namespace), with its credentials mode.
    const handshake = (origin: string) =>
      fetch(`${service.baseUrl}/socket.io/?EIO=4&transport=polling`, { headers: { Origin: origin } });
    const fromUi = await handshake('https://admin.socket.io');
    expect(fromUi.status).toBe(200);
    expect(fromUi.headers.get('access-control-allow-origin')).toBe('https://admin.socket.io');
    expect(fromUi.headers.get('access-control-allow-credentials')).toBe('true');
    expect((await handshake('https://evil.example.com')).status).toBe(403);
    await service.stop();
  });
});

describe('without the admin UI variables', () => {
  it('has no /admin namespace', async () => {
    const service = await ServiceProcess.start({ JWT_SECRET: TEST_JWT_SECRET });
    await expect(connectAdmin(service.baseUrl, credentials)).rejects.toThrow('Invalid namespace');
    await service.stop();
  });

  it('exits 1 naming the missing or malformed variable, never printing the hash', async () => {
    const malformed = `${login.hash.slice(0, -1)}!`;
    registerSecret('admin UI password hash' as string as SecretKind, malformed);
    const halves = await Promise.all([
      ServiceProcess.launch({ ADMIN_UI_PASSWORD_HASH: login.hash }),
      ServiceProcess.launch({ ADMIN_UI_USERNAME: login.username, ADMIN_UI_PASSWORD_HASH: malformed }),
    ]);
    const [onlyHash, badHash] = await Promise.all(halves.map((s) => s.exited.then(() => s)));
    expect(onlyHash.child.exitCode).toBe(1);
    expect(onlyHash.output).toContain('Invalid configuration: ADMIN_UI_USERNAME is required');
    expect(badHash.child.exitCode).toBe(1);
    expect(badHash.output).toContain('Invalid configuration: ADMIN_UI_PASSWORD_HASH must be a bcrypt hash');
    for (const service of halves) await service.stop();
  });
});
