// The reference the benchmark compares our service with: the Socket.IO multi-worker recipe a team would
// write without us, in one file. node:cluster primary with @socket.io/sticky routing (sticky by
// Engine.IO sid, so HTTP long-polling works), N workers sharing rooms through @socket.io/redis-adapter
// over ioredis, an HS256 JWT handshake, and the wire events of CONTRACT.md section 4 that the benchmark
// uses, kept in memory and Redis only (no database, no LLM). With `--store FILE` it also stores each
// message in SQLite before it answers, as a team would with better-sqlite3's recipe (WAL; synchronous
// NORMAL, our service's setting; the seq still from Redis): one synchronous INSERT per message. With
// `--cpu-us N` it also burns N µs of CPU per message before it emits: a calibration, to see how this
// machine's delivery p99 follows a server's CPU alone (the bench's --reference-cpu).
//
//   node bench/reference-server.mjs [--port 3000] [--host 127.0.0.1] [--workers 4]
//        [--redis-url redis://127.0.0.1:6379] [--jwt-secret ...] [--key-prefix bench-ref] [--store FILE]
//        [--cpu-us N]
//
// Each option falls back to PORT, HOST, WORKERS, REDIS_URL, JWT_SECRET, REDIS_KEY_PREFIX, REFERENCE_STORE,
// REFERENCE_CPU_US.
import cluster from 'node:cluster';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { setTimeout } from 'node:timers';
import { parseArgs } from 'node:util';
import { createAdapter } from '@socket.io/redis-adapter';
import { setupMaster, setupWorker } from '@socket.io/sticky';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import jwt from 'jsonwebtoken';
import { Server } from 'socket.io';

const { values: argv } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    workers: { type: 'string' },
    'redis-url': { type: 'string' },
    'jwt-secret': { type: 'string' },
    'key-prefix': { type: 'string' },
    store: { type: 'string' },
    'cpu-us': { type: 'string' },
  },
});
const config = {
  port: Number(argv.port ?? process.env.PORT ?? 3000),
  host: argv.host ?? process.env.HOST ?? '127.0.0.1',
  workers: Number(argv.workers ?? process.env.WORKERS ?? 4),
  redisUrl: argv['redis-url'] ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  jwtSecret: argv['jwt-secret'] ?? process.env.JWT_SECRET ?? '',
  keyPrefix: argv['key-prefix'] ?? process.env.REDIS_KEY_PREFIX ?? 'bench-ref',
  store: argv.store ?? process.env.REFERENCE_STORE ?? '',
  cpuUs: Number(argv['cpu-us'] ?? process.env.REFERENCE_CPU_US ?? 0),
};
/** How long a SIGTERM may take before the primary gives up on its workers. */
const SHUTDOWN_GRACE_MS = 5_000;

if (cluster.isPrimary) runPrimary();
else runWorker();

function runPrimary() {
  const problems = [];
  if (!Number.isInteger(config.port) || config.port < 1 || config.port > 65535) problems.push('PORT 1-65535');
  if (!Number.isInteger(config.workers) || config.workers < 1 || config.workers > 64)
    problems.push('WORKERS 1-64');
  if (config.jwtSecret.length < 32) problems.push('JWT_SECRET of 32 characters or more');
  if (!Number.isInteger(config.cpuUs) || config.cpuUs < 0 || config.cpuUs > 100_000)
    problems.push('REFERENCE_CPU_US 0-100000');
  if (problems.length > 0) {
    for (const problem of problems) console.error(`reference: invalid configuration: ${problem}`);
    process.exit(1);
  }

  // The schema once, before any worker writes.
  if (config.store) openStore().close();

  const httpServer = http.createServer();
  setupMaster(httpServer, { loadBalancingMethod: 'least-connection' });
  // Sticky hands raw Buffers and socket handles to the workers: JSON serialization would mangle them.
  cluster.setupPrimary({ serialization: 'advanced' });

  let stopping = false;
  let ready = 0;
  const fork = () => {
    const worker = cluster.fork();
    worker.on('message', (message) => {
      // Listen only once every worker has its Redis adapter: a 200 on /api/health means all can serve.
      if (message?.type === 'reference:ready' && ++ready === config.workers) {
        httpServer.listen(config.port, config.host, () =>
          console.log(
            `reference listening on http://${config.host}:${config.port} (${config.workers} workers, pid ${process.pid})`,
          ),
        );
      }
    });
  };
  for (let i = 0; i < config.workers; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    console.error(`reference: worker ${worker.process.pid} died (${signal ?? code}); forking another`);
    fork();
  });

  const stop = () => {
    if (stopping) return;
    stopping = true;
    httpServer.close();
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    setTimeout(() => {
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** The SQLite file of `--store`, as better-sqlite3's documentation sets it up for several processes. */
function openStore() {
  const db = new Database(config.store, { timeout: 5000 });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(
    'CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, ' +
      'seq INTEGER NOT NULL, role TEXT NOT NULL, author_id TEXT NOT NULL, content TEXT NOT NULL, ' +
      'status TEXT NOT NULL, client_message_id TEXT, created_at TEXT NOT NULL, ' +
      'UNIQUE (conversation_id, seq))',
  );
  return db;
}

/** Spins until this process has used `us` µs more CPU (not wall time: a descheduled spin would count less). */
function burnCpu(us) {
  const start = process.cpuUsage();
  for (;;) {
    const used = process.cpuUsage(start);
    if (used.user + used.system >= us) return;
  }
}

async function runWorker() {
  const store = config.store ? openStore() : undefined;
  const insert = store
    ? store.prepare(
        'INSERT INTO messages (id, conversation_id, seq, role, author_id, content, status, ' +
          'client_message_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
    : undefined;
  const prefix = config.keyPrefix;
  const pub = new Redis(config.redisUrl, { connectionName: `${prefix}:pub:${process.pid}` });
  const sub = pub.duplicate({ connectionName: `${prefix}:sub:${process.pid}` });
  for (const client of [pub, sub])
    client.on('error', (error) => console.error(`reference: redis: ${error.message}`));
  await Promise.all([pub, sub].map((client) => new Promise((resolve) => client.once('ready', resolve))));

  const httpServer = http.createServer((request, response) => {
    const found = request.url === '/api/health';
    response.writeHead(found ? 200 : 404, { 'content-type': 'application/json' });
    response.end(found ? '{"status":"ok"}' : '{"error":"not found"}');
  });
  const io = new Server(httpServer, { adapter: createAdapter(pub, sub, { key: prefix }) });
  setupWorker(io);

  const chat = io.of('/chat');
  chat.use((socket, next) => {
    try {
      const claims = jwt.verify(socket.handshake.auth?.token ?? '', config.jwtSecret, {
        algorithms: ['HS256'],
      });
      if (typeof claims.sub !== 'string' || claims.sub === '') throw new Error('no sub');
      socket.data.user = { id: claims.sub, name: typeof claims.name === 'string' ? claims.name : claims.sub };
      next();
    } catch {
      next(new Error('unauthorized'));
    }
  });

  const membersKey = (id) => `${prefix}:conversation:${id}:members`;
  const fail = (code, message) => ({ ok: false, error: { code, message } });
  const isId = (value) => typeof value === 'string' && value.length > 0 && value.length <= 200;

  chat.on('connection', (socket) => {
    const user = socket.data.user;
    /** Registers `event`: the handler's result (or INTERNAL on a throw) answers the acknowledgement. */
    const handle = (event, handler) =>
      socket.on(event, async (payload, ack) => {
        const reply = typeof ack === 'function' ? ack : () => undefined;
        try {
          reply(await handler(payload ?? {}));
        } catch (error) {
          console.error(`reference: ${event}: ${error.message}`);
          reply(fail('INTERNAL', 'internal error'));
        }
      });

    handle('conversation:create', async ({ title, memberIds }) => {
      if (title !== undefined && (typeof title !== 'string' || title.length > 200))
        return fail('VALIDATION_FAILED', 'title must be a string of at most 200 characters');
      if (
        memberIds !== undefined &&
        (!Array.isArray(memberIds) || memberIds.length > 1000 || !memberIds.every(isId))
      )
        return fail('VALIDATION_FAILED', 'memberIds must be an array of user ids');
      const id = randomUUID();
      const members = [...new Set([user.id, ...(memberIds ?? [])])];
      await pub.sadd(membersKey(id), ...members);
      return { ok: true, conversation: { id, title: title ?? null, memberIds: members } };
    });

    handle('conversation:join', async ({ conversationId }) => {
      if (!isId(conversationId)) return fail('VALIDATION_FAILED', 'conversationId is required');
      if (!(await pub.sismember(membersKey(conversationId), user.id)))
        return fail('FORBIDDEN', 'not a member of this conversation');
      await socket.join(`conversation:${conversationId}`);
      return { ok: true, conversationId, messages: [] };
    });

    handle('message:send', async ({ conversationId, content, clientMessageId }) => {
      if (!isId(conversationId)) return fail('VALIDATION_FAILED', 'conversationId is required');
      if (typeof content !== 'string' || content.length < 1 || content.length > 8000)
        return fail('VALIDATION_FAILED', 'content must be 1 to 8000 characters');
      if (clientMessageId !== undefined && !isId(clientMessageId))
        return fail('VALIDATION_FAILED', 'clientMessageId must be a string');
      // One round trip for both; a refused sender burns a seq number, which a reference can afford.
      const [[, member], [, seq]] = await pub
        .pipeline()
        .sismember(membersKey(conversationId), user.id)
        .incr(`${prefix}:conversation:${conversationId}:seq`)
        .exec();
      if (!member) return fail('FORBIDDEN', 'not a member of this conversation');
      const message = {
        id: randomUUID(),
        conversationId,
        seq,
        role: 'user',
        authorId: user.id,
        content,
        status: 'complete',
        createdAt: new Date().toISOString(),
      };
      insert?.run(
        message.id,
        message.conversationId,
        message.seq,
        message.role,
        message.authorId,
        message.content,
        message.status,
        clientMessageId ?? null,
        message.createdAt,
      );
      if (config.cpuUs > 0) burnCpu(config.cpuUs);
      chat.to(`conversation:${conversationId}`).emit('message:new', message);
      return { ok: true, message };
    });
  });

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS - 1_000).unref();
    chat.local.disconnectSockets(true);
    io.close();
    Promise.allSettled([pub.quit(), sub.quit()]).then(() => {
      store?.close();
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The primary is gone (killed): nobody routes to this worker any more.
  process.on('disconnect', stop);

  process.send({ type: 'reference:ready' });
}
