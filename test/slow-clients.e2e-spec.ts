import { readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { type Socket, connect } from 'node:net';
import { MAX_FRAME_BYTES } from '../src/common/frame-limit.js';
import { TEST_JWT_SECRET, connectChat, request, tokenFor } from './support/chat-client.js';
import { freePort, sleep, waitFor } from './support/ports.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

// What one slow or hostile HTTP client may cost the process that owns PORT (the primary with
// WORKERS > 1, the lone worker with WORKERS = 1): unfinished headers are closed, client connections
// are capped below the descriptor limit while liveness stays reachable, an oversized polling body is
// refused with 413. Real processes, raw sockets.

/** The contract's bound on a request that has not sent its headers. */
const HEADERS_DEADLINE_MS = 15_000;
/** Scheduling slack on a shared machine; the old behaviour (Node's 60 s, checked every 30 s) is far beyond. */
const MARGIN_MS = 7_000;
const ONE_MIB = 1024 * 1024;

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await stopAllServices();
  await redis?.stop();
});

const modes = [
  { name: 'WORKERS=2 (the primary owns PORT)', env: (): Record<string, string> => clusterEnv() },
  { name: 'WORKERS=1 (the lone worker owns PORT)', env: (): Record<string, string> => ({ WORKERS: '1' }) },
];

function clusterEnv(): Record<string, string> {
  return { WORKERS: '2', REDIS_ENABLED: 'true', REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'slow-e2e' };
}

async function startService(env: Record<string, string>): Promise<ServiceProcess> {
  return ServiceProcess.start({ JWT_SECRET: TEST_JWT_SECRET, SHUTDOWN_GRACE_MS: '5000', ...env });
}

/** Open descriptors of a process, as the kernel counts them against its limit. */
function openDescriptors(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** A raw TCP connection; `closed` resolves when the server ends it (or it fails). */
function rawConnection(port: number): { socket: Socket; connected: Promise<boolean>; closed: Promise<void> } {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.resume();
  const connected = new Promise<boolean>((resolve) => {
    socket.once('connect', () => resolve(true));
    socket.once('close', () => resolve(false));
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, connected, closed };
}

async function liveness(port: number, method = 'GET', path = '/api/health') {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    signal: AbortSignal.timeout(5_000),
  });
  return { status: response.status, text: await response.text() };
}

/** An Engine.IO long-polling session opened without Socket.IO: its sid. */
async function openPollingSession(service: ServiceProcess): Promise<string> {
  const answer = await service.get<string>('/socket.io/?EIO=4&transport=polling');
  expect(answer.status).toBe(200);
  return (JSON.parse(answer.body.slice(1)) as { sid: string }).sid;
}

/** POSTs `size` bytes to the session, chunked (no Content-Length); the status, or how it ended. */
function chunkedPost(port: number, path: string, size: number): Promise<string> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'POST', agent: false });
    req.setHeader('content-type', 'text/plain;charset=UTF-8');
    req.on('response', (res) => {
      res.resume();
      resolve(String(res.statusCode));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve(`error ${error.code ?? error.message}`));
    const chunk = Buffer.alloc(16 * 1024, 'x');
    let sent = 0;
    const pump = () => {
      while (sent < size && !req.destroyed) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!req.destroyed) req.end();
    };
    pump();
  });
}

describe.each(modes)('$name', ({ env }) => {
  it('closes a connection that sent half a request header within 15 s', async () => {
    const service = await startService(env());
    try {
      const started = Date.now();
      const { socket, connected, closed } = rawConnection(service.port);
      expect(await connected).toBe(true);
      socket.write('GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
      const outcome = await Promise.race([
        closed.then(() => 'closed'),
        sleep(HEADERS_DEADLINE_MS + MARGIN_MS),
      ]);
      socket.destroy();
      expect(outcome).toBe('closed');
      expect(Date.now() - started).toBeLessThan(HEADERS_DEADLINE_MS + MARGIN_MS);
      // A client that does send its headers is served as before.
      expect((await service.get('/api/health')).status).toBe(200);
    } finally {
      await service.stop();
    }
  });

  it('caps client connections below the descriptor budget while PROBE_PORT answers liveness', async () => {
    const cap = 200;
    const probePort = await freePort();
    const service = await startService({
      ...env(),
      MAX_HTTP_CONNECTIONS: String(cap),
      PROBE_PORT: String(probePort),
    });
    const pid = service.child.pid!;
    const idle: ReturnType<typeof rawConnection>[] = [];
    try {
      // The probe port answers liveness only.
      expect(await liveness(probePort)).toEqual({ status: 200, text: '{"status":"ok"}' });
      expect((await liveness(probePort, 'HEAD')).status).toBe(200);
      expect((await liveness(probePort, 'GET', '/api/ready')).status).toBe(404);
      expect((await liveness(probePort, 'POST')).status).toBe(404);

      // Normal use: a chat client and a few requests stay well under the cap.
      const chat = await connectChat(service.baseUrl, tokenFor('slow-normal'));
      try {
        expect(await request(chat, 'conversation:create', { memberIds: [] })).toHaveProperty('conversation');
        expect(openDescriptors(pid)).toBeLessThan(cap);
      } finally {
        chat.close();
      }

      // Twice the cap in idle connections that never send a byte.
      for (let i = 0; i < cap * 2; i++) idle.push(rawConnection(service.port));
      await Promise.all(idle.map(({ connected }) => connected));
      await sleep(500);
      for (let round = 0; round < 3; round++) {
        const stillOpen = idle.filter(({ socket }) => !socket.closed && !socket.destroyed).length;
        const descriptors = openDescriptors(pid);
        // Each accepted client holds one descriptor; the rest is the process's own (stdio, IPC, listeners).
        expect({ round, descriptors: descriptors <= cap + 100 }).toEqual({ round, descriptors: true });
        expect({ round, stillOpen: stillOpen <= cap }).toEqual({ round, stillOpen: true });
        expect(await liveness(probePort)).toEqual({ status: 200, text: '{"status":"ok"}' });
        await sleep(1_000);
      }
    } finally {
      for (const { socket } of idle) socket.destroy();
    }
    try {
      // Once they are gone, PORT serves again.
      await waitFor(async () => (await service.get('/api/health')).status === 200, {
        timeoutMs: 20_000,
        what: 'PORT serving again',
      });
      const chat = await connectChat(service.baseUrl, tokenFor('slow-after'));
      chat.close();
    } finally {
      const { code } = await service.stop();
      // The probe server does not hold the process open at shutdown.
      expect(code).toBe(0);
    }
  });

  it('answers 413 to a 1 MiB polling POST and keeps serving, without EPIPE', async () => {
    const service = await startService(env());
    try {
      const sid = await openPollingSession(service);
      const sessionPath = `/socket.io/?EIO=4&transport=polling&sid=${sid}`;
      const tooLarge = await fetch(`${service.baseUrl}${sessionPath}`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain;charset=UTF-8' },
        body: 'x'.repeat(ONE_MIB),
        signal: AbortSignal.timeout(10_000),
      });
      await tooLarge.arrayBuffer();
      expect(tooLarge.status).toBe(413);
      // A chunked body (no Content-Length) over the limit is refused too, or its connection closed.
      const other = await openPollingSession(service);
      const chunked = await chunkedPost(
        service.port,
        `/socket.io/?EIO=4&transport=polling&sid=${other}`,
        ONE_MIB,
      );
      expect(['413', 'error ECONNRESET', 'error EPIPE']).toContain(chunked);
      // A body at the limit still goes through.
      const third = await openPollingSession(service);
      const atLimit = await fetch(`${service.baseUrl}/socket.io/?EIO=4&transport=polling&sid=${third}`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain;charset=UTF-8' },
        // Engine.IO noop packets, one byte short of the limit.
        body: new Array(MAX_FRAME_BYTES / 2).fill('6').join('\x1e'),
      });
      expect(atLimit.status).toBe(200);
      await atLimit.text();

      expect((await service.get('/api/health')).status).toBe(200);
      const chat = await connectChat(service.baseUrl, tokenFor('after-413'));
      try {
        expect(await request(chat, 'conversation:create', { memberIds: [] })).toHaveProperty('conversation');
      } finally {
        chat.close();
      }
      expect(service.alive).toBe(true);
      expect(service.output).not.toMatch(/EPIPE/);
      expect(service.output).not.toMatch(/Bad gateway|failed a request/);
    } finally {
      await service.stop();
    }
  });
});
