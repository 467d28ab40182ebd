// `npm run bench -- --scenario cancel [--cancels 50] [--workers 4]`: how fast `answer:cancel` stops the
// model. The service (Redis, SQLite) streams from a fake Ollama that notes when each request's
// connection is closed; a member on one worker asks, a member on another worker (usually) cancels after
// the first delta. Prints, over the cancels, the time from sending `answer:cancel` to the model's
// request closed, and to the ack.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import jwt from 'jsonwebtoken';
import { io } from 'socket.io-client';
import { freePort, httpGet, percentile, sleep, waitUntil, wallNow } from './lib.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));

/** A fake Ollama that streams a token every 50 ms and records when a stream's connection closed early. */
function startFakeOllama(port) {
  const closedAt = [];
  const server = http.createServer(async (req, res) => {
    if (req.url !== '/api/chat')
      return res.writeHead(200, { 'content-type': 'application/json' }).end('{"version":"0"}');
    await new Promise((resolve) => req.resume().once('end', resolve)); // the body, unread
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.once('close', () => !res.writableEnded && closedAt.push(wallNow()));
    for (let i = 0; i < 400 && !res.destroyed; i++) {
      res.write(`${JSON.stringify({ message: { role: 'assistant', content: `w${i} ` }, done: false })}\n`);
      await sleep(50);
    }
    if (!res.destroyed)
      res.end(`${JSON.stringify({ message: { role: 'assistant', content: '' }, done: true })}\n`);
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve({ server, closedAt })));
}

function connect(baseUrl, secret, user) {
  const token = jwt.sign({ sub: user, name: user }, secret, { algorithm: 'HS256', expiresIn: '1h' });
  const socket = io(`${baseUrl}/chat`, { auth: { token }, forceNew: true, transports: ['websocket'] });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

export async function runCancelBench(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: 'string' },
      cancels: { type: 'string', default: '50' },
      workers: { type: 'string', default: '4' },
    },
  });
  const cancels = Number(values.cancels);
  const dir = mkdtempSync(join(tmpdir(), 'bench-cancel-'));
  const [redisPort, ollamaPort, port] = await Promise.all([freePort(), freePort(), freePort()]);
  const children = [
    spawn(
      'redis-server',
      ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    ),
  ];
  const fake = await startFakeOllama(ollamaPort);
  const secret = randomBytes(36).toString('base64url');
  const baseUrl = `http://127.0.0.1:${port}`;
  children.push(
    spawn(process.execPath, [join(HERE, '../dist/main.js')], {
      cwd: dir,
      stdio: 'ignore',
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        PORT: String(port),
        WORKERS: values.workers,
        REDIS_ENABLED: 'true',
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        DATABASE_URL: `sqlite:${join(dir, 'chat.db')}`,
        STORAGE_DIR: join(dir, 'storage'),
        OLLAMA_URL: `http://127.0.0.1:${ollamaPort}`,
        JWT_SECRET: secret,
      },
    }),
  );
  try {
    await waitUntil(async () => (await httpGet(`${baseUrl}/api/ready`)).status === 200, {
      timeoutMs: 60_000,
      what: 'the service ready',
    });
    const [asker, canceller] = [
      await connect(baseUrl, secret, 'asker'),
      await connect(baseUrl, secret, 'canceller'),
    ];
    const created = await asker.emitWithAck('conversation:create', { memberIds: ['canceller'] });
    const conversationId = created.conversation.id;
    for (const socket of [asker, canceller])
      await socket.emitWithAck('conversation:join', { conversationId });
    const toClosed = [];
    const toAck = [];
    for (let n = 0; n < cancels; n++) {
      const started = new Promise((resolve) => {
        const onDelta = (delta) => {
          canceller.off('message:delta', onDelta);
          resolve(delta.messageId);
        };
        canceller.on('message:delta', onDelta);
      });
      await asker.emitWithAck('message:send', { conversationId, content: `question ${n}` });
      const messageId = await started;
      const closedBefore = fake.closedAt.length;
      const sentAt = wallNow();
      const ack = await canceller.emitWithAck('answer:cancel', { conversationId, messageId });
      toAck.push(wallNow() - sentAt);
      if (ack.message?.status !== 'cancelled') throw new Error(`cancel ${n}: ${JSON.stringify(ack)}`);
      await waitUntil(() => fake.closedAt.length > closedBefore, {
        timeoutMs: 5000,
        intervalMs: 5,
        what: 'the close',
      });
      toClosed.push(fake.closedAt.at(-1) - sentAt);
      // Stay under the event budget of 100 per 30 s (a send, a cancel and a join per round).
      await sleep(700);
    }
    const ms = (values) => {
      const sorted = [...values].sort((a, b) => a - b);
      return `p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms, max ${sorted.at(-1).toFixed(1)} ms`;
    };
    console.log(
      `answer:cancel, ${cancels} cancels, ${values.workers} workers (asker and canceller on two sockets):`,
    );
    console.log(`  answer:cancel sent -> Ollama's request closed: ${ms(toClosed)}`);
    console.log(`  answer:cancel sent -> its ack (the answer stored cancelled): ${ms(toAck)}`);
    console.log(
      `  goal: the Ollama request closed within 1 s: ${Math.max(...toClosed) < 1000 ? 'met' : 'MISSED'}`,
    );
    asker.close();
    canceller.close();
  } finally {
    // SIGTERM: the service drains and its workers exit with it.
    for (const child of children) child.kill('SIGTERM');
    fake.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
