// `npm run soak -- --minutes N`: the service (4 workers, Redis, SQLite, the bench's fake Ollama) under
// steady chat with churn for N minutes: 200 clients in rooms of 10 sending every 20 s (each message
// answered, streamed), 2 sockets a second replaced, a worker SIGKILLed every 5 minutes. Every 30 s it
// samples RSS and open descriptors per process, Redis keys and memory, and session hashes; at the end
// it prints them over time with their slope (least squares over the samples after the first fifth).
//
//   npm run soak -- --minutes 30 [--clients 200] [--send-interval-s 20] [--churn 2]
//                   [--restart-every-min 5] [--sample-s 30]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, httpGet, printAlignedTable, processTree, rssKiB, sleep, waitUntil } from './lib.mjs';
import { SoakClients } from './soak-clients.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const PREFIX = 'soak';
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    clients: { type: 'string', default: '200' },
    'send-interval-s': { type: 'string', default: '20' },
    churn: { type: 'string', default: '2' },
    'restart-every-min': { type: 'string', default: '5' },
    'sample-s': { type: 'string', default: '30' },
  },
});
const option = (name, min) => {
  const value = Number(values[name]);
  if (!Number.isFinite(value) || value < min) throw new Error(`--${name} must be a number >= ${min}`);
  return value;
};
const minutes = option('minutes', 0.5);
const clientCount = Math.round(option('clients', 10) / 10) * 10;
const sampleMs = option('sample-s', 1) * 1000;
const restartMs = option('restart-every-min', 0.5) * 60_000;

const children = [];
const kill = () => children.forEach((child) => child.exitCode === null && child.kill('SIGKILL'));
process.on('exit', kill);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

function start(command, args, env, cwd) {
  const child = spawn(command, args, { cwd, env: { PATH: process.env.PATH, ...env }, stdio: 'ignore' });
  children.push(child);
  return child;
}

const fds = (pid) => {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
};

/** Least-squares slope of `ys` against `xs` (per unit of x). */
function slope(xs, ys) {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  const num = xs.reduce((sum, x, i) => sum + (x - mx) * (ys[i] - my), 0);
  const den = xs.reduce((sum, x) => sum + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'chat-soak-'));
  const [redisPort, ollamaPort, port] = await Promise.all([freePort(), freePort(), freePort()]);
  start(
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {},
    dir,
  );
  start(
    process.execPath,
    [join(HERE, 'fake-ollama.mjs'), '--port', String(ollamaPort), '--tokens', '60', '--token-delay-ms', '20'],
    {},
    dir,
  );
  const jwtSecret = randomBytes(36).toString('base64url');
  const service = start(
    process.execPath,
    [join(HERE, '../dist/main.js')],
    {
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      WORKERS: '4',
      REDIS_ENABLED: 'true',
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      REDIS_KEY_PREFIX: PREFIX,
      DATABASE_URL: `sqlite:${join(dir, 'chat.db')}`,
      STORAGE_DIR: join(dir, 'storage'),
      OLLAMA_URL: `http://127.0.0.1:${ollamaPort}`,
      JWT_SECRET: jwtSecret,
    },
    dir,
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitUntil(async () => (await httpGet(`${baseUrl}/api/ready`)).status === 200, {
    timeoutMs: 60_000,
    what: 'the service ready',
  });
  const redis = new Redis(redisPort, '127.0.0.1');

  const clients = new SoakClients({ baseUrl, jwtSecret, count: clientCount });
  await clients.start({
    sendIntervalMs: option('send-interval-s', 1) * 1000,
    churnPerSecond: option('churn', 0),
  });
  console.log(
    `soak: ${clientCount} clients on 4 workers for ${minutes} min (pid ${service.pid}; data in ${dir})`,
  );

  const samples = [];
  const startedAt = Date.now();
  let restarts = 0;
  let nextRestart = startedAt + restartMs;
  while (Date.now() - startedAt < minutes * 60_000) {
    await sleep(Math.min(sampleMs, Math.max(0, nextRestart - Date.now())) || 1);
    if (Date.now() >= nextRestart) {
      const workers = processTree(service.pid).filter((pid) => pid !== service.pid);
      if (workers.length > 0) process.kill(workers[restarts % workers.length], 'SIGKILL');
      restarts++;
      nextRestart += restartMs;
    }
    if (samples.length > 0 && Date.now() - samples.at(-1).at < sampleMs - 500) continue;
    const pids = processTree(service.pid);
    const workers = pids.filter((pid) => pid !== service.pid);
    let sessions = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}:session:*`, 'COUNT', 1000);
      sessions += keys.length;
      cursor = next;
    } while (cursor !== '0');
    samples.push({
      at: Date.now(),
      minute: (Date.now() - startedAt) / 60_000,
      primaryRss: rssKiB([service.pid]) / 1024,
      workersRss: rssKiB(workers) / 1024,
      maxWorkerRss: Math.max(0, ...workers.map((pid) => rssKiB([pid]) / 1024)),
      primaryFds: fds(service.pid),
      workersFds: workers.reduce((n, pid) => n + fds(pid), 0),
      redisKeys: await redis.dbsize(),
      redisMemory: Number(/used_memory:(\d+)/.exec(await redis.info('memory'))[1]) / 1024 / 1024,
      sessions,
      connected: clients.connected,
    });
    const s = samples.at(-1);
    console.log(
      `  ${s.minute.toFixed(1)} min: RSS primary ${s.primaryRss.toFixed(0)} MiB, workers ${s.workersRss.toFixed(0)} MiB; fds ${s.primaryFds}/${s.workersFds}; Redis ${s.redisKeys} keys ${s.redisMemory.toFixed(1)} MiB; sessions ${s.sessions}; connected ${s.connected}`,
    );
  }
  await clients.stop();
  redis.disconnect();
  report(samples, clients.counts, restarts);
  service.kill('SIGTERM');
  await new Promise((resolve) => service.once('exit', resolve));
  kill();
  rmSync(dir, { recursive: true, force: true });
}

function report(samples, counts, restarts) {
  const columns = [
    ['primaryRss', 'primary RSS (MiB)'],
    ['workersRss', 'workers RSS (MiB)'],
    ['maxWorkerRss', 'largest worker RSS (MiB)'],
    ['primaryFds', 'primary descriptors'],
    ['workersFds', 'workers descriptors'],
    ['redisKeys', 'Redis keys'],
    ['redisMemory', 'Redis used memory (MiB)'],
    ['sessions', 'session hashes'],
    ['connected', 'connected clients'],
  ];
  // The first fifth is warm-up (heaps growing to their working size, pools filling).
  const steady = samples.slice(Math.floor(samples.length / 5));
  const xs = steady.map((s) => s.minute);
  const lines = columns.map(([key, label]) => {
    const ys = steady.map((s) => s[key]);
    const mean = ys.reduce((a, b) => a + b, 0) / Math.max(1, ys.length);
    const perTen = slope(xs, ys) * 10;
    const relative = mean === 0 ? 0 : (100 * perTen) / mean;
    const first = samples[0]?.[key] ?? 0;
    return [
      label,
      first.toFixed(1),
      (samples.at(-1)?.[key] ?? 0).toFixed(1),
      mean.toFixed(1),
      `${perTen >= 0 ? '+' : ''}${perTen.toFixed(2)}`,
      `${relative >= 0 ? '+' : ''}${relative.toFixed(1)} %`,
    ];
  });
  console.log(
    `\nsoak: ${samples.length} samples over ${samples.at(-1)?.minute.toFixed(1)} min, ${restarts} worker restarts`,
  );
  console.log(
    `  messages sent ${counts.sent}, acknowledged ${counts.acked}, failed ${counts.failed}; answers done ${counts.answersDone}, failed ${counts.answersFailed}; connects ${counts.connects}, disconnects ${counts.disconnects}\n`,
  );
  printAlignedTable(
    ['series', 'first', 'last', 'steady mean', 'slope / 10 min', 'slope / 10 min of mean'],
    lines,
  );
  console.log(
    '\nFlat: a steady slope within a few % of the mean per 10 min, and no series that only climbs.',
  );
}

main().catch((error) => {
  console.error(`soak failed: ${error.message}`);
  process.exit(1);
});
