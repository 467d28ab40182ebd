// `npm run bench`: drives our service (dist/main.js) and the reference recipe (reference-server.mjs)
// with the same Socket.IO load, one after the other, on the same worker count and a Redis of its own,
// and prints our figures beside the reference's with their ratio. See docs/benchmarks.md.
//
// Every child process (redis-server, the servers and their workers, the load generators) is killed on
// exit, on Ctrl-C and on errors; every phase is bounded in time; only loopback addresses are used.
import { fork, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  cpuSeconds,
  freePort,
  httpGet,
  mergeCounts,
  percentile,
  processTree,
  rssKiB,
  sleep,
  waitUntil,
  wallNow,
} from './lib.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const OUR_MAIN = join(ROOT, 'dist', 'main.js');
const REFERENCE_MAIN = join(HERE, 'reference-server.mjs');

const USAGE = `Usage: npm run bench -- [options]      (or: node bench/run.mjs [options] after npm run build)

  --clients N          Socket.IO clients, each its own user                 (default 500)
  --conversations N    conversations (rooms) the clients are spread over     (default 25)
  --rate R             messages per second per client                        (default 1)
  --workers N          worker processes of both servers                      (default 4)
  --duration S         measurement window, seconds                           (default 20)
  --warmup S           load before the window, not measured                  (default 5)
  --drain S            wait after the window for in-flight deliveries        (default 5)
  --transports T       default (long-polling first, then upgrade) | websocket (default default)
  --only T             ours | reference: run one side only                   (default both)
  --procs N            load-generator processes the clients are split over  (default 2)
  --json FILE          also write every figure as JSON to FILE
  --keep               keep the temporary directory (server logs, SQLite file)
  --help`;

// ---------------------------------------------------------------------------------------------- options

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      clients: { type: 'string', default: '500' },
      conversations: { type: 'string', default: '25' },
      rate: { type: 'string', default: '1' },
      workers: { type: 'string', default: '4' },
      duration: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '5' },
      drain: { type: 'string', default: '5' },
      transports: { type: 'string', default: 'default' },
      only: { type: 'string' },
      procs: { type: 'string', default: '2' },
      json: { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const problems = [];
  const number = (name, min, max, integer = true) => {
    const value = Number(values[name]);
    const ok =
      Number.isFinite(value) && value >= min && value <= max && (!integer || Number.isInteger(value));
    if (!ok) problems.push(`--${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
    return value;
  };
  const options = {
    clients: number('clients', 1, 20_000),
    conversations: number('conversations', 1, 20_000),
    rate: number('rate', 0.01, 100, false),
    workers: number('workers', 1, 64),
    duration: number('duration', 1, 600, false),
    warmup: number('warmup', 0, 120, false),
    drain: number('drain', 0, 60, false),
    procs: number('procs', 1, 16),
    transports: values.transports,
    targets: values.only ? [values.only] : ['ours', 'reference'],
    json: values.json,
    keep: values.keep,
  };
  if (!['default', 'websocket'].includes(options.transports))
    problems.push('--transports must be default or websocket');
  if (values.only && !['ours', 'reference'].includes(values.only))
    problems.push('--only must be ours or reference');
  if (options.conversations > options.clients) problems.push('--conversations may not exceed --clients');
  if (problems.length > 0) {
    for (const problem of problems) console.error(`bench: ${problem}`);
    console.error(USAGE);
    process.exit(2);
  }
  return options;
}

// ------------------------------------------------------------------------------------ child processes

/** Process groups we started (redis-server, each server with its workers): killed whole on exit. */
const groups = new Set();
/** Forked load generators. */
const loaders = new Set();

/** SIGKILLs the process group led by `pid`; true if anything was still there. */
function killGroup(pid, signal = 'SIGKILL') {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (error) {
    if (error.code === 'ESRCH') {
      groups.delete(pid); // every process of that group is gone
      return false;
    }
    throw error;
  }
}

function killEverything() {
  for (const child of loaders)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const pid of groups) {
    try {
      killGroup(pid);
    } catch (error) {
      console.error(`bench: could not kill process group ${pid}: ${error.message}`);
    }
  }
}

process.on('exit', killEverything);
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
]) {
  process.on(signal, () => {
    console.error(`\nbench: ${signal}: stopping every child process`);
    killEverything();
    process.exit(code);
  });
}

const alive = (child) => child.exitCode === null && child.signalCode === null;

function tail(path, chars = 4_000) {
  if (!existsSync(path)) return '(no log)';
  const text = readFileSync(path, 'utf8');
  return text.length > chars ? `...${text.slice(-chars)}` : text;
}

/** Starts `command` in its own process group, output appended to `logPath`. */
function spawnGroup(command, args, { cwd, env, logPath }) {
  const log = openSync(logPath, 'a');
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  groups.add(child.pid);
  child.exited = new Promise((resolveExit) =>
    child.once('exit', (code, signal) => resolveExit({ code, signal })),
  );
  return child;
}

// -------------------------------------------------------------------------------------------------- redis

function redisPing(port) {
  return new Promise((resolvePing) => {
    const socket = connect({ host: '127.0.0.1', port });
    let answer = '';
    socket.setTimeout(1_000, () => socket.destroy());
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk.toString();
      if (answer.includes('\r\n')) socket.end();
    });
    socket.on('close', () => resolvePing(answer.startsWith('+PONG')));
    socket.on('error', () => socket.destroy());
  });
}

async function startRedis(workDir) {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    throw new Error(
      'redis-server was not found on PATH. The benchmark starts its own Redis on a free loopback port: ' +
        'install it (Debian/Ubuntu: apt-get install redis-server, macOS: brew install redis) and run it again.',
    );
  }
  const port = await freePort();
  const logPath = join(workDir, 'redis.log');
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const child = spawnGroup('redis-server', [...args, '--daemonize', 'no', '--loglevel', 'warning'], {
    cwd: workDir,
    env: { PATH: process.env.PATH ?? '' },
    logPath,
  });
  await waitUntil(
    async () => {
      if (!alive(child)) throw new Error(`redis-server exited at start:\n${tail(logPath)}`);
      return redisPing(port);
    },
    { timeoutMs: 10_000, what: `redis-server on 127.0.0.1:${port}` },
  );
  return { port, child, version: probe.stdout.match(/v=(\S+)/)?.[1] ?? '?' };
}

// ------------------------------------------------------------------------------------------------ servers

async function startServer(target, options, redis, workDir) {
  const dir = mkdtempSync(join(workDir, `${target}-`));
  const port = await freePort();
  const jwtSecret = randomBytes(36).toString('base64url'); // 48 characters
  const logPath = join(dir, 'server.log');
  let command;
  let env;
  if (target === 'ours') {
    if (!existsSync(OUR_MAIN))
      throw new Error(`${OUR_MAIN} is missing: run \`npm run build\` (npm run bench does)`);
    command = [OUR_MAIN];
    env = {
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      WORKERS: String(options.workers),
      REDIS_ENABLED: 'true',
      REDIS_URL: `redis://127.0.0.1:${redis.port}`,
      REDIS_KEY_PREFIX: 'bench-ours',
      JWT_SECRET: jwtSecret,
      CORS_ORIGINS: 'http://127.0.0.1',
      DATABASE_URL: `sqlite:${join(dir, 'bench.db')}`,
      STORAGE_DIR: dir,
      OLLAMA_URL: 'http://127.0.0.1:9', // nothing listens there: answers fail fast, as without Ollama
    };
  } else {
    command = [REFERENCE_MAIN];
    env = {
      PORT: String(port),
      HOST: '127.0.0.1',
      WORKERS: String(options.workers),
      REDIS_URL: `redis://127.0.0.1:${redis.port}/1`, // its own database and key prefix
      REDIS_KEY_PREFIX: 'bench-ref',
      JWT_SECRET: jwtSecret,
    };
  }
  const started = Date.now();
  // cwd is the temporary directory so that no .env of the work tree leaks into the service.
  const child = spawnGroup(process.execPath, command, {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, ...env },
    logPath,
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntil(
      async () => {
        if (!alive(child))
          throw new Error(`it exited (${child.exitCode ?? child.signalCode}) before answering`);
        return (await httpGet(`${url}/api/health`, 1_000)).status === 200;
      },
      { timeoutMs: 90_000, what: 'GET /api/health 200' },
    );
  } catch (error) {
    throw new Error(
      `${target} server did not start: ${error.message}. Its log (${logPath}):\n${tail(logPath)}`,
      { cause: error },
    );
  }
  let readiness;
  if (target === 'ours') {
    const ready = await httpGet(`${url}/api/ready`, 5_000);
    readiness = `/api/ready ${ready.status} ${ready.body.slice(0, 300)}`;
  }
  return { target, child, url, jwtSecret, logPath, dir, startMs: Date.now() - started, readiness };
}

/** SIGTERM, then SIGKILL of the whole group after 20 s; reports the exit and any orphaned worker. */
async function stopServer(server) {
  const started = Date.now();
  if (alive(server.child)) server.child.kill('SIGTERM');
  let timer;
  const result = await Promise.race([
    server.child.exited,
    new Promise((resolveTimeout) => (timer = setTimeout(() => resolveTimeout(undefined), 20_000))),
  ]);
  clearTimeout(timer);
  let exit = result ? `${result.code ?? result.signal}` : 'none within 20 s: SIGKILL';
  if (killGroup(server.child.pid)) exit += ' (workers outlived the primary: killed)';
  if (!result) await server.child.exited;
  return { exit, stopMs: Date.now() - started };
}

// ------------------------------------------------------------------------------------------------- load

/** A forked load generator and its replies. */
class Loader {
  constructor(index) {
    this.index = index;
    this.waiters = new Map();
    this.child = fork(join(HERE, 'load-generator.mjs'), [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    loaders.add(this.child);
    this.child.on('message', (message) => {
      const waiter = this.waiters.get(message.type);
      this.waiters.delete(message.type);
      waiter?.resolve(message);
    });
    this.child.once('exit', (code, signal) => {
      loaders.delete(this.child);
      for (const waiter of this.waiters.values())
        waiter.reject(new Error(`load generator ${index} exited (${code ?? signal})`));
      this.waiters.clear();
    });
  }

  tell(command) {
    if (this.child.connected) this.child.send(command);
  }

  ask(command, replyType, timeoutMs) {
    return new Promise((resolveReply, rejectReply) => {
      const timer = setTimeout(() => {
        this.waiters.delete(replyType);
        rejectReply(
          new Error(`load generator ${this.index}: no "${replyType}" within ${timeoutMs / 1000} s`),
        );
      }, timeoutMs);
      const settle = (fn) => (value) => {
        clearTimeout(timer);
        fn(value);
      };
      this.waiters.set(replyType, { resolve: settle(resolveReply), reject: settle(rejectReply) });
      this.tell(command);
    });
  }

  async close() {
    this.tell({ type: 'close' });
    const exited = new Promise((resolveExit) => {
      if (!alive(this.child)) resolveExit();
      else this.child.once('exit', resolveExit);
    });
    let timer;
    const timeout = new Promise((resolveTimeout) => (timer = setTimeout(resolveTimeout, 5_000)));
    await Promise.race([exited, timeout]);
    clearTimeout(timer);
    if (alive(this.child)) this.child.kill('SIGKILL');
  }
}

async function sleepUntil(wallMs) {
  const wait = wallMs - wallNow();
  if (wait > 0) await sleep(wait);
}

/** Connects, creates, joins, loads and measures one server; returns its figures. */
async function measure(server, options, redis) {
  const pids = () => processTree(server.child.pid);
  await sleep(1_000); // let the workers settle after boot
  const processes = pids().length;
  const rssBefore = rssKiB(pids());

  const procs = Math.min(options.procs, options.clients);
  const slices = Array.from({ length: procs }, () => []);
  for (let i = 0; i < options.clients; i++) slices[i % procs].push(i);
  const clientOptions = {
    url: server.url,
    jwtSecret: server.jwtSecret,
    transports: options.transports,
    conversations: options.conversations,
    totalClients: options.clients,
    intervalMs: 1_000 / options.rate,
    connectTimeoutMs: 20_000,
    ackTimeoutMs: 10_000,
  };
  const fleet = slices.map((_, index) => new Loader(index));
  try {
    const connectStarted = Date.now();
    const connectBudget = Math.ceil(slices[0].length / 50) * clientOptions.connectTimeoutMs + 30_000;
    await Promise.all(
      fleet.map((loader, i) =>
        loader.ask({ type: 'init', options: clientOptions, indexes: slices[i] }, 'connected', connectBudget),
      ),
    );
    const connectSeconds = (Date.now() - connectStarted) / 1_000;

    const created = await Promise.all(
      fleet.map((loader) => loader.ask({ type: 'create' }, 'created', 60_000)),
    );
    const conversations = Object.assign({}, ...created.map((reply) => reply.conversations));
    const joined = await Promise.all(
      fleet.map((loader) => loader.ask({ type: 'join', conversations }, 'joined', 120_000)),
    );
    const members = mergeCounts(joined.map((reply) => reply.members));

    await sleep(2_000); // connections and joins settled: the memory they hold is now resident
    const rssAfter = rssKiB(pids());

    const startAt = wallNow() + 500;
    const windowStart = startAt + options.warmup * 1_000;
    const windowEnd = windowStart + options.duration * 1_000;
    for (const loader of fleet) loader.tell({ type: 'load', startAt, windowStart, windowEnd });
    await sleepUntil(windowStart);
    const cpuStart = { server: cpuSeconds(pids()), redis: cpuSeconds([redis.child.pid]) };
    await sleepUntil(windowEnd);
    const cpuEnd = { server: cpuSeconds(pids()), redis: cpuSeconds([redis.child.pid]) };
    const rssLoaded = rssKiB(pids());
    await sleep(options.drain * 1_000);

    const reports = (
      await Promise.all(fleet.map((loader) => loader.ask({ type: 'report' }, 'report', 60_000)))
    ).map((reply) => reply.stats);
    return summarize({
      options,
      reports,
      members,
      conversations,
      connectSeconds,
      processes,
      rss: { before: rssBefore, after: rssAfter, loaded: rssLoaded },
      cpu: {
        server: (cpuEnd.server - cpuStart.server) / options.duration,
        redis: (cpuEnd.redis - cpuStart.redis) / options.duration,
      },
    });
  } finally {
    await Promise.all(fleet.map((loader) => loader.close()));
  }
}

function sortedOf(arrays) {
  const total = arrays.reduce((sum, array) => sum + array.length, 0);
  const all = new Float64Array(total);
  let offset = 0;
  for (const array of arrays) {
    all.set(array, offset);
    offset += array.length;
  }
  return all.sort();
}

function summarize({ options, reports, members, conversations, connectSeconds, processes, rss, cpu }) {
  const conversationOf = (key) => Number(key.slice(0, key.indexOf(':'))) % options.conversations;
  const received = new Map();
  for (const report of reports)
    for (const [key, n] of report.received) received.set(key, (received.get(key) ?? 0) + n);
  const acked = new Set(reports.flatMap((report) => report.ackedInWindow));
  let expected = 0;
  let delivered = 0;
  let duplicates = 0;
  for (const key of acked) {
    const roomSize = members[conversationOf(key)] ?? 0;
    const got = received.get(key) ?? 0;
    expected += roomSize;
    delivered += Math.min(got, roomSize);
    duplicates += Math.max(0, got - roomSize);
  }
  let unacknowledgedDelivered = 0;
  for (const [key, n] of received) if (!acked.has(key)) unacknowledgedDelivered += n;

  const latencies = sortedOf(reports.map((report) => report.latencies));
  const ackMs = sortedOf(reports.map((report) => Float64Array.from(report.ackMs)));
  const connectMs = sortedOf(reports.map((report) => Float64Array.from(report.connectMs)));
  const sum = (pick) => reports.reduce((total, report) => total + pick(report), 0);
  const connected = connectMs.length;
  return {
    clients: options.clients,
    connected,
    connectSeconds,
    connectMs: { p50: percentile(connectMs, 50), p99: percentile(connectMs, 99) },
    connectFailures: mergeCounts(reports.map((report) => report.connectFailures)),
    conversationsCreated: Object.keys(conversations).length,
    createFailures: mergeCounts(reports.map((report) => report.createFailures)),
    joined: Object.values(members).reduce((total, n) => total + n, 0),
    joinFailures: mergeCounts(reports.map((report) => report.joinFailures)),
    transports: mergeCounts(reports.map((report) => report.transports)),
    sent: sum((report) => report.sent),
    sentInWindow: sum((report) => report.sentInWindow),
    ackedInWindow: acked.size,
    skipped: sum((report) => report.skipped),
    ackFailures: mergeCounts(reports.map((report) => report.ackFailures)),
    stillOutstanding: sum((report) => report.stillOutstanding),
    ackMs: { p50: percentile(ackMs, 50), p99: percentile(ackMs, 99) },
    expected,
    delivered,
    deliveredRatio: expected > 0 ? delivered / expected : Number.NaN,
    duplicates,
    unacknowledgedDelivered,
    misrouted: sum((report) => report.misrouted),
    latency: {
      samples: latencies.length,
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      p99: percentile(latencies, 99),
      max: latencies.length > 0 ? latencies[latencies.length - 1] : Number.NaN,
    },
    deliveredPerSecond: sum((report) => report.receivedInWindow) / options.duration,
    disconnects: mergeCounts(reports.map((report) => report.disconnects)),
    connectedAtEnd: sum((report) => report.connectedAtEnd),
    otherEvents: mergeCounts(reports.map((report) => report.otherEvents)),
    processes,
    rssKiB: { ...rss, perConnection: connected > 0 ? (rss.after - rss.before) / connected : Number.NaN },
    cpuCores: cpu,
    loadGenerators: reports.map((report) => ({
      cpuCores: report.cpu ? (report.cpu.user + report.cpu.system) / 1e6 / options.duration : Number.NaN,
      loopDelayP99Ms: report.loopDelay?.p99 ?? Number.NaN,
      loopDelayMaxMs: report.loopDelay?.max ?? Number.NaN,
    })),
  };
}

// ----------------------------------------------------------------------------------------------- report

const fmt = (value, digits = 1) =>
  value === undefined || Number.isNaN(value)
    ? 'n/a'
    : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const count = (counts) => Object.values(counts).reduce((total, n) => total + n, 0);

/** [label, value(result) -> number|string, numeric value for the ratio or undefined]. */
const ROWS = [
  ['clients connected', (r) => `${r.connected}/${r.clients}`, (r) => r.connected],
  ['connect failures', (r) => String(count(r.connectFailures)), (r) => count(r.connectFailures)],
  ['connect time p50 (ms)', (r) => fmt(r.connectMs.p50), (r) => r.connectMs.p50],
  ['connect time p99 (ms)', (r) => fmt(r.connectMs.p99), (r) => r.connectMs.p99],
  ['connect phase, all clients (s)', (r) => fmt(r.connectSeconds), (r) => r.connectSeconds],
  [
    'transport when the window opens',
    (r) =>
      Object.entries(r.transports)
        .map(([name, n]) => `${name} ${n}`)
        .join(', ') || 'none',
  ],
  ['conversations created', (r) => String(r.conversationsCreated)],
  ['clients joined', (r) => `${r.joined}/${r.clients}`],
  ['messages acked in window', (r) => `${r.ackedInWindow}/${r.sentInWindow}`, (r) => r.ackedInWindow],
  ['ack failures (whole run)', (r) => String(count(r.ackFailures)), (r) => count(r.ackFailures)],
  ['ack latency p50 (ms)', (r) => fmt(r.ackMs.p50), (r) => r.ackMs.p50],
  ['ack latency p99 (ms)', (r) => fmt(r.ackMs.p99), (r) => r.ackMs.p99],
  [
    'delivered / expected',
    (r) => `${r.delivered}/${r.expected} (${fmt(r.deliveredRatio * 100, 2)}%)`,
    (r) => r.deliveredRatio,
  ],
  ['delivery latency p50 (ms)', (r) => fmt(r.latency.p50), (r) => r.latency.p50],
  ['delivery latency p95 (ms)', (r) => fmt(r.latency.p95), (r) => r.latency.p95],
  ['delivery latency p99 (ms)', (r) => fmt(r.latency.p99), (r) => r.latency.p99],
  ['delivery latency max (ms)', (r) => fmt(r.latency.max), (r) => r.latency.max],
  ['delivered msgs/s (in window)', (r) => fmt(r.deliveredPerSecond, 0), (r) => r.deliveredPerSecond],
  ['server CPU in window (cores)', (r) => fmt(r.cpuCores.server, 2), (r) => r.cpuCores.server],
  ['redis CPU in window (cores)', (r) => fmt(r.cpuCores.redis, 2), (r) => r.cpuCores.redis],
  ['server processes', (r) => String(r.processes)],
  ['server RSS before connect (MiB)', (r) => fmt(r.rssKiB.before / 1024), (r) => r.rssKiB.before],
  ['server RSS after connect (MiB)', (r) => fmt(r.rssKiB.after / 1024), (r) => r.rssKiB.after],
  ['server RSS end of window (MiB)', (r) => fmt(r.rssKiB.loaded / 1024), (r) => r.rssKiB.loaded],
  ['server RSS per connection (KiB)', (r) => fmt(r.rssKiB.perConnection), (r) => r.rssKiB.perConnection],
  ['disconnects during the run', (r) => String(count(r.disconnects)), (r) => count(r.disconnects)],
  ['other events received', (r) => String(count(r.otherEvents))],
  ['server start to /api/health (s)', (r) => fmt(r.server.startMs / 1_000), (r) => r.server.startMs],
  ['server stop on SIGTERM: exit, s', (r) => `${r.server.exit}, ${fmt(r.server.stopMs / 1_000)}`],
  [
    'load-gen CPU (cores, per process)',
    (r) => r.loadGenerators.map((generator) => fmt(generator.cpuCores, 2)).join(' / '),
  ],
  [
    'load-gen event-loop delay p99 (ms)',
    (r) => r.loadGenerators.map((generator) => fmt(generator.loopDelayP99Ms)).join(' / '),
  ],
];

function printTable(results) {
  const targets = Object.keys(results);
  const both = targets.length === 2;
  const header = ['metric', ...targets, ...(both ? ['ratio'] : [])];
  const lines = ROWS.map(([label, show, numeric]) => {
    const cells = targets.map((target) => (results[target].failed ? 'failed' : show(results[target])));
    if (both) {
      const [ours, reference] = targets.map((target) =>
        results[target].failed || !numeric ? Number.NaN : numeric(results[target]),
      );
      cells.push(numeric && reference !== 0 && !Number.isNaN(ours) ? `${fmt(ours / reference, 2)}x` : '');
    }
    return [label, ...cells];
  });
  const widths = header.map((_, column) =>
    Math.max(...[header, ...lines].map((line) => line[column].length)),
  );
  const render = (line) =>
    line
      .map((cell, column) => cell.padEnd(widths[column]))
      .join(' | ')
      .trimEnd();
  console.log(render(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('-|-'));
  for (const line of lines) console.log(render(line));
}

function printDetails(results) {
  for (const [target, result] of Object.entries(results)) {
    console.log(`\n${target}:`);
    if (result.failed) {
      console.log(`  failed: ${result.failed}`);
      continue;
    }
    if (result.server.readiness) console.log(`  ${result.server.readiness}`);
    const groupsOf = [
      ['connect failures', result.connectFailures],
      ['create failures', result.createFailures],
      ['join failures', result.joinFailures],
      ['ack failures by code', result.ackFailures],
      ['disconnect reasons', result.disconnects],
      ['other events', result.otherEvents],
    ];
    for (const [title, counts] of groupsOf) {
      const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
      if (entries.length === 0) continue;
      console.log(`  ${title}:`);
      for (const [message, n] of entries.slice(0, 20))
        console.log(`    ${String(n).padStart(7)}  ${message}`);
    }
    const notes = [];
    if (result.skipped > 0) notes.push(`${result.skipped} sends skipped (50 unacknowledged already)`);
    if (result.stillOutstanding > 0)
      notes.push(`${result.stillOutstanding} acks still outstanding at the end`);
    if (result.duplicates > 0) notes.push(`${result.duplicates} duplicate deliveries`);
    if (result.unacknowledgedDelivered > 0)
      notes.push(`${result.unacknowledgedDelivered} deliveries of messages whose ack failed`);
    if (result.misrouted > 0) notes.push(`${result.misrouted} message:new for another conversation`);
    if (result.connectedAtEnd < result.connected)
      notes.push(`${result.connected - result.connectedAtEnd} clients no longer connected at the end`);
    for (const note of notes) console.log(`  note: ${note}`);
  }
}

function printTargets(results) {
  const ours = results.ours;
  const reference = results.reference;
  if (!ours || ours.failed) return;
  console.log('\nTargets:');
  const line = (met, text) => console.log(`  [${met ? 'met' : 'MISSED'}] ${text}`);
  const failures = count(ours.connectFailures);
  line(failures === 0, `0 connect failures: ${failures}`);
  line(ours.deliveredRatio === 1, `100% delivered: ${fmt(ours.deliveredRatio * 100, 2)}%`);
  if (!reference || reference.failed) {
    console.log('  (throughput and p99 targets need the reference run)');
    return;
  }
  const throughput = ours.deliveredPerSecond / reference.deliveredPerSecond;
  line(throughput >= 0.9, `delivered msgs/s >= 0.9x reference: ${fmt(throughput, 2)}x`);
  const p99 = ours.latency.p99 / reference.latency.p99;
  line(p99 <= 1.2, `p99 <= 1.2x reference: ${fmt(p99, 2)}x`);
}

// ------------------------------------------------------------------------------------------------- main

async function main() {
  const options = parseOptions(process.argv.slice(2));
  const workDir = mkdtempSync(join(tmpdir(), 'chat-bench-'));
  const expectedPerSecond = options.clients * options.rate * (options.clients / options.conversations);
  console.log(
    `bench: ${options.clients} clients, ${options.conversations} conversations (~${fmt(options.clients / options.conversations)} members each), ` +
      `${options.rate} msg/s per client (~${fmt(expectedPerSecond, 0)} deliveries/s), ${options.workers} workers, ` +
      `transports ${options.transports === 'default' ? 'default (polling, then upgrade)' : 'websocket only'}, ` +
      `warm-up ${options.warmup} s, window ${options.duration} s, drain ${options.drain} s, ${Math.min(options.procs, options.clients)} load-generator processes`,
  );
  console.log(
    `machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}; work directory ${workDir}`,
  );

  const redis = await startRedis(workDir);
  console.log(`redis-server ${redis.version} on 127.0.0.1:${redis.port}`);
  const results = {};
  let failed = false;
  for (const target of options.targets) {
    let server;
    try {
      console.log(
        `\n${target}: starting ${target === 'ours' ? 'dist/main.js' : 'bench/reference-server.mjs'}...`,
      );
      server = await startServer(target, options, redis, workDir);
      console.log(
        `${target}: up in ${fmt(server.startMs / 1_000)} s at ${server.url}; connecting clients...`,
      );
      const result = await measure(server, options, redis);
      Object.assign(result, { server });
      results[target] = result;
      console.log(
        `${target}: ${result.connected}/${result.clients} connected, ${fmt(result.deliveredRatio * 100, 2)}% delivered, ` +
          `p99 ${fmt(result.latency.p99)} ms, ${fmt(result.deliveredPerSecond, 0)} msgs/s`,
      );
    } catch (error) {
      failed = true;
      results[target] = { failed: error.message };
      console.error(`${target}: FAILED: ${error.message}`);
    } finally {
      if (server) {
        const stopped = await stopServer(server);
        Object.assign(server, stopped);
        console.log(`${target}: stopped (exit ${stopped.exit}) in ${fmt(stopped.stopMs / 1_000)} s`);
      }
    }
  }
  redis.child.kill('SIGTERM');
  await Promise.race([redis.child.exited, sleep(5_000)]);

  console.log(
    `\nResults (ratio = ours / reference; the command: ${['npm run bench --', ...process.argv.slice(2)].join(' ')})\n`,
  );
  printTable(results);
  printDetails(results);
  printTargets(results);

  if (options.json) {
    const plain = JSON.parse(
      JSON.stringify(results, (key, value) =>
        key === 'child' ? undefined : key === 'jwtSecret' ? '***' : value,
      ),
    );
    writeFileSync(options.json, `${JSON.stringify({ options, results: plain }, null, 2)}\n`);
    console.log(`\nJSON written to ${options.json}`);
  }
  if (options.keep || failed) console.log(`\nLogs kept in ${workDir}`);
  else rmSync(workDir, { recursive: true, force: true });
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    killEverything();
    process.exit(code);
  },
  (error) => {
    console.error(`bench: ${error.message}`);
    killEverything();
    process.exit(1);
  },
);
