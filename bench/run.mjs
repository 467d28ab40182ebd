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
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { URL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  cpuSeconds,
  freePort,
  httpGet,
  httpPost,
  loadPlan,
  mergeCounts,
  openFileLimits,
  p99BySecond,
  percentile,
  printAlignedTable,
  processTree,
  rssKiB,
  sleep,
  startTime,
  waitUntil,
  wallNow,
} from './lib.mjs';
import { printAnswers, RedisProbe, redisDelta, summarizeAnswers } from './answers.mjs';
import { ATTACKER_KINDS, measureHostile } from './hostile.mjs';
import { printHostile } from './hostile-report.mjs';
import {
  CAPACITY_SERVERS,
  DEFAULT_CAPACITY_POSTGRES,
  describeCapacity,
  measureCapacity,
  runCapacityServer,
} from './capacity.mjs';
import { printCapacity, summarizeCapacity } from './capacity-report.mjs';
import { describeIdle, measureIdle, planIdleLimits, printIdle } from './idle.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const OUR_MAIN = join(ROOT, 'dist', 'main.js');
const REFERENCE_MAIN = join(HERE, 'reference-server.mjs');
const FAKE_OLLAMA_MAIN = join(HERE, 'fake-ollama.mjs');

const USAGE = `Usage: npm run bench -- [options]      (or: node bench/run.mjs [options] after npm run build)

  --scenario S         messages: ours beside the reference under a message load; cancel: how fast
                       answer:cancel closes the model's request (--cancels 50, --workers 4; bench/cancel.mjs);
                       answers: ours only, assistant answers streamed from a fake Ollama;
                       hostile: ours only, normal clients beside attackers (see below);
                       capacity: four servers, the load raised step by step until each fails;
                       idle: ours beside the bare reference, many idle sockets (see below)
                                                                            (default messages)
  --clients N          Socket.IO clients, each its own user                 (default 500)
  --conversations N    conversations (rooms) the clients are spread over     (default 25;
                       answers: 100)
  --rate R             messages per second per client                        (default 1)
  --workers N          worker processes of both servers                      (default 4)
  --duration S         measurement window, seconds                           (default 20)
  --warmup S           load before the window, not measured                  (default 5)
  --drain S            wait after the window for in-flight deliveries        (default 5)
  --transports T       default (long-polling first, then upgrade) | websocket (default default)
  --only T             ours | reference: run one side only                   (default both)
  --procs N            load-generator processes the clients are split over  (default 2)
  --server-nice N      the servers (and their workers) run at this nice value, below the
                       load generators and Redis, so a server's CPU use delays the clients
                       that time it less; 0: all at the same priority       (default 0)
  --rounds N           repeat the pair N times, alternating which goes first (default 1)
  --database D         sqlite | a postgres:// server URL: our service stores in a fresh
                       database created there for the run (and dropped)     (default sqlite)
  --reference-store S  none: the reference keeps messages in memory and Redis only;
                       sqlite: it also stores each message in a SQLite file of its own
                       (one synchronous INSERT, WAL) before it answers      (default none)
  --reference-cpu US   the reference also burns US µs of CPU per message before it emits: a
                       calibration of how delivery p99 here follows a server's CPU alone
                                                                            (default 0)
  --json FILE          also write every figure as JSON to FILE
  --keep               keep the temporary directory (server logs, SQLite file)
  --help

  answers scenario (--clients, --rate, --duration, --warmup, --drain, --reference-store, --reference-cpu
  do not apply; --only is ours):
  --members N          clients per conversation; the first one asks        (default 1)
  --answers-per-conversation N
                       questions each conversation asks, one after the other
                       (the next once the previous answer ended)             (default 1)
  --answer-tokens N    tokens of each fake answer                            (default 200)
  --token-delay-ms MS  the fake Ollama's pause before each token             (default 0: full speed)
  --answer-timeout S   longest wait for one answer's message:done or :error  (default 60)
  --answer-warmup N    questions per conversation answered first, not measured, so the workers'
                       code is compiled and their caches warm; 0: measure a cold service (default 1)
  --ask-spread-ms MS   the measured questions start spread evenly over MS ms instead of at the
                       same moment                                           (default 0)

  hostile scenario (ours only, SQLite; defaults there: --clients 200, --conversations 10, --warmup 20,
  --duration 60): warm-up, then --duration s without attackers (baseline), --duration s with them
  (attack), --after s without them again; the normal clients' delivery is judged per phase:
  --attackers LIST     comma-separated, of ${ATTACKER_KINDS.join(', ')}  (default all)
  --after S            seconds measured after the attack                      (default 20)
  --sync-messages N    messages of 8,000 characters seeded for the sync attacker (default 3000)
  --slow-connections N slow-header connections the slow-headers attacker holds (default 5000)

  capacity scenario (defaults there: --clients 1000, --conversations 50, --procs 4, --warmup 10 at the
  first step's rate, not judged; --rate and --duration do not apply): each server in turn, clients
  connected and joined once, the rate raised every step without reconnecting; a step fails when its
  delivery p99 passes the limit or anything is lost (checked --drain s after it); a server stops at its
  first failing step:
  --only LIST          comma-separated, of ours-sqlite, ours-postgres, reference-storing,
                       reference-bare                           (default all four, in that order)
  --start-rate R       msg/s per client of the first step                  (default 0.25)
  --step-rate R        msg/s per client added every step                   (default 0.25)
  --max-rate R         the last step's msg/s per client at most            (default 4)
  --step-seconds S     length of a step, whole seconds                     (default 20)
  --step-settle S      the first S s of a step are not measured (the rate change's transient; loss is
                       still counted over the whole step)                  (default 2)
  --p99-limit-ms MS    a step's delivery p99 above this fails it           (default 250)
  --capacity-postgres URL
                       the PostgreSQL server of ours-postgres (a database is created there and dropped)
                       (default --database if it is a postgres:// URL, else ${DEFAULT_CAPACITY_POSTGRES})

  idle scenario (defaults there: --clients 10000, --conversations 500, --procs 4, --duration 30; --only
  ours | reference, the reference always bare): the empty service for 10 s, then every client connected
  and joined, then --duration s idle; RSS per socket and idle CPU, per process too`;

// ---------------------------------------------------------------------------------------------- options

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: 'string', default: 'messages' },
      clients: { type: 'string' },
      conversations: { type: 'string' },
      members: { type: 'string', default: '1' },
      'answers-per-conversation': { type: 'string', default: '1' },
      'answer-tokens': { type: 'string', default: '200' },
      'token-delay-ms': { type: 'string', default: '0' },
      'answer-timeout': { type: 'string', default: '60' },
      'answer-warmup': { type: 'string', default: '1' },
      'ask-spread-ms': { type: 'string', default: '0' },
      attackers: { type: 'string', default: ATTACKER_KINDS.join(',') },
      after: { type: 'string', default: '20' },
      'sync-messages': { type: 'string', default: '3000' },
      'slow-connections': { type: 'string', default: '5000' },
      rate: { type: 'string', default: '1' },
      workers: { type: 'string', default: '4' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      drain: { type: 'string', default: '5' },
      transports: { type: 'string', default: 'default' },
      only: { type: 'string' },
      procs: { type: 'string' },
      'start-rate': { type: 'string', default: '0.25' },
      'step-rate': { type: 'string', default: '0.25' },
      'max-rate': { type: 'string', default: '4' },
      'step-seconds': { type: 'string', default: '20' },
      'step-settle': { type: 'string', default: '2' },
      'p99-limit-ms': { type: 'string', default: '250' },
      'capacity-postgres': { type: 'string' },
      'server-nice': { type: 'string', default: '0' },
      rounds: { type: 'string', default: '1' },
      json: { type: 'string' },
      database: { type: 'string', default: 'sqlite' },
      'reference-store': { type: 'string', default: 'none' },
      'reference-cpu': { type: 'string', default: '0' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const problems = [];
  const answers = values.scenario === 'answers';
  const hostile = values.scenario === 'hostile';
  const capacity = values.scenario === 'capacity';
  const idle = values.scenario === 'idle';
  if (!['messages', 'answers', 'hostile', 'capacity', 'idle'].includes(values.scenario))
    problems.push('--scenario must be messages, answers, hostile, capacity or idle');
  // Capacity: 1,000 clients in rooms of 20; idle: 10,000 in rooms of 20, 30 s idle; both on 4 load processes.
  values.procs ??= capacity || idle ? '4' : '2';
  if (capacity) {
    values.clients ??= '1000';
    values.conversations ??= '50';
  }
  if (idle) {
    values.clients ??= '10000';
    values.conversations ??= '500';
    values.duration ??= '30';
  }
  // The hostile scenario: 200 clients in rooms of 20, a 20 s warm-up, a 60 s baseline and attack.
  values.warmup ??= hostile ? '20' : capacity ? '10' : '5';
  values.duration ??= hostile ? '60' : '20';
  if (hostile) {
    values.clients ??= '200';
    values.conversations ??= '10';
    if (values.only === 'reference') problems.push('--scenario hostile runs ours only');
    if (values.database !== 'sqlite')
      problems.push('--scenario hostile needs --database sqlite (it seeds the file)');
  }
  if (answers) {
    // One conversation per asker: the clients follow from the conversations and their members.
    if (values.clients !== undefined)
      problems.push('--clients does not apply to --scenario answers: use --conversations and --members');
    if (values.only === 'reference')
      problems.push('--scenario answers runs ours only: the reference has no answers');
    values.conversations ??= '100';
    values.clients = String(Number(values.conversations) * Number(values.members));
  } else {
    values.clients ??= '500';
    values.conversations ??= '25';
  }
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
    serverNice: number('server-nice', 0, 19),
    rounds: number('rounds', 1, 10),
    transports: values.transports,
    targets: values.only ? [values.only] : ['ours', 'reference'],
    json: values.json,
    database: values.database,
    referenceStore: values['reference-store'],
    referenceCpuUs: number('reference-cpu', 0, 100_000),
    keep: values.keep,
    scenario: values.scenario,
    members: number('members', 1, 100),
    answersPerConversation: number('answers-per-conversation', 1, 50),
    answerTokens: number('answer-tokens', 1, 10_000),
    tokenDelayMs: number('token-delay-ms', 0, 1_000, false),
    answerTimeout: number('answer-timeout', 1, 600, false),
    answerWarmup: number('answer-warmup', 0, 50),
    askSpreadMs: number('ask-spread-ms', 0, 600_000),
    attackers: values.attackers.split(',').filter(Boolean),
    after: number('after', 0, 600, false),
    syncMessages: number('sync-messages', 1, 100_000),
    slowConnections: number('slow-connections', 0, 15_000),
    startRate: number('start-rate', 0.01, 100, false),
    stepRate: number('step-rate', 0.01, 100, false),
    maxRate: number('max-rate', 0.01, 100, false),
    stepSeconds: number('step-seconds', 2, 600),
    stepSettle: number('step-settle', 0, 599),
    p99LimitMs: number('p99-limit-ms', 1, 60_000, false),
    capacityPostgres:
      values['capacity-postgres'] ??
      (values.database.startsWith('postgres') ? values.database : DEFAULT_CAPACITY_POSTGRES),
  };
  if (answers || hostile) options.targets = ['ours'];
  if (capacity) {
    options.targets = values.only ? values.only.split(',').filter(Boolean) : Object.keys(CAPACITY_SERVERS);
    for (const name of options.targets)
      if (!(name in CAPACITY_SERVERS))
        problems.push(`--only: ${name} is not one of ${Object.keys(CAPACITY_SERVERS).join(', ')}`);
    if (options.stepSettle >= options.stepSeconds)
      problems.push('--step-settle must be below --step-seconds');
    if (options.startRate > options.maxRate) problems.push('--start-rate may not exceed --max-rate');
    if (!/^postgres(ql)?:\/\//.test(options.capacityPostgres))
      problems.push('--capacity-postgres must be a postgres:// URL');
  }
  if (idle) options.referenceStore = 'none'; // the bare reference: idle sockets store nothing anyway
  for (const kind of options.attackers)
    if (!ATTACKER_KINDS.includes(kind))
      problems.push(`--attackers: ${kind} is not one of ${ATTACKER_KINDS.join(', ')}`);
  if (options.database !== 'sqlite' && !/^postgres(ql)?:\/\//.test(options.database))
    problems.push('--database must be sqlite or a postgres:// URL');
  if (!['none', 'sqlite'].includes(options.referenceStore))
    problems.push('--reference-store must be none or sqlite');
  if (!['default', 'websocket'].includes(options.transports))
    problems.push('--transports must be default or websocket');
  if (values.only && !capacity && !['ours', 'reference'].includes(values.only))
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

/** Process groups we started (redis-server, each server and its children): killed whole on exit. */
const groups = new Set();
/**
 * Every server process seen (pid -> start time): a primary may put its workers in process groups of
 * their own, out of reach of the group kill, and a worker orphaned by its primary leaves its tree.
 */
const serverProcesses = new Map();

function rememberTree(rootPid) {
  const pids = processTree(rootPid);
  for (const pid of pids) {
    const started = startTime(pid);
    if (started !== undefined && !serverProcesses.has(pid)) serverProcesses.set(pid, started);
  }
  return pids;
}

/** Pids of remembered server processes still running (same pid and start time). */
function survivors(pids = [...serverProcesses.keys()]) {
  return pids.filter((pid) => serverProcesses.has(pid) && startTime(pid) === serverProcesses.get(pid));
}

function killSurvivors(pids) {
  const alive = survivors(pids);
  for (const pid of alive) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (error) {
      if (error.code !== 'ESRCH') console.error(`bench: could not kill ${pid}: ${error.message}`);
    }
  }
  for (const pid of pids ?? [...serverProcesses.keys()]) serverProcesses.delete(pid);
  return alive.length;
}
/** Forked load generators. */
const loaders = new Set();
/** The temporary directory to remove if the run is interrupted (unless --keep). */
let interruptedCleanup;

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
  for (const pid of groups) rememberTree(pid);
  killSurvivors();
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
    if (interruptedCleanup) rmSync(interruptedCleanup, { recursive: true, force: true });
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
      DATABASE_URL: options.databaseUrl ?? `sqlite:${join(dir, 'bench.db')}`,
      STORAGE_DIR: dir,
      // Messages: nothing listens on port 9, so answers fail fast, as without Ollama. Answers: the fake.
      OLLAMA_URL: options.ollamaUrl ?? 'http://127.0.0.1:9',
      // The messages scenario measures the chat path the reference also has: no assistant answers.
      ASSISTANT_ENABLED: options.scenario === 'answers' ? 'true' : 'false',
    };
  } else {
    command = [REFERENCE_MAIN];
    env = {
      PORT: String(port),
      HOST: '127.0.0.1',
      WORKERS: String(options.workers),
      REDIS_URL: `redis://127.0.0.1:${redis.port}/1`, // its own database and key prefix
      REDIS_KEY_PREFIX: 'bench-ref',
      ...(options.referenceStore === 'sqlite' ? { REFERENCE_STORE: join(dir, 'reference.db') } : {}),
      REFERENCE_CPU_US: String(options.referenceCpuUs),
      JWT_SECRET: jwtSecret,
    };
  }
  // Scenario-specific variables (idle: MAX_HTTP_CONNECTIONS), printed by the scenario that sets them.
  Object.assign(env, options.serverEnv?.[target]);
  // The hostile scenario polls liveness on PROBE_PORT too; a service without it ignores the variable.
  const probePort = options.scenario === 'hostile' ? await freePort() : undefined;
  if (probePort) env.PROBE_PORT = String(probePort);
  const started = Date.now();
  // cwd is the temporary directory so that no .env of the work tree leaks into the service.
  // e.g. BENCH_SERVER_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles every server process.
  const nodeFlags = (process.env.BENCH_SERVER_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  // Below the load generators' priority if asked (--server-nice), with a higher open-file limit if the
  // scenario raises it (idle); `nice` and `prlimit` exec node, so the pid stays the server's and every
  // worker it forks inherits both.
  const [program, ...programArgs] = [
    ...(options.serverFileLimit
      ? [
          'prlimit',
          `--nofile=${options.serverFileLimit}:${openFileLimits()?.hard ?? options.serverFileLimit}`,
          '--',
        ]
      : []),
    ...(options.serverNice > 0 ? ['nice', '-n', String(options.serverNice)] : []),
    process.execPath,
    ...nodeFlags,
    ...command,
  ];
  const child = spawnGroup(program, programArgs, {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, ...env },
    logPath,
  });
  const url = `http://127.0.0.1:${port}`;
  // Ours: readiness, since its primary answers liveness before any worker listens. The reference's
  // primary listens only once every worker is up, so its /api/health means the same.
  const probe = target === 'ours' ? '/api/ready' : '/api/health';
  try {
    await waitUntil(
      async () => {
        if (!alive(child))
          throw new Error(`it exited (${child.exitCode ?? child.signalCode}) before answering`);
        return (await httpGet(`${url}${probe}`, 1_000)).status === 200;
      },
      { timeoutMs: 90_000, what: `GET ${probe} 200` },
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
  rememberTree(child.pid);
  return { target, child, url, jwtSecret, logPath, dir, probePort, startMs: Date.now() - started, readiness };
}

/**
 * SIGTERM to the primary, SIGKILL to the whole tree after 20 s. Reports the exit, and any server
 * process still running once the primary has exited (a primary should wait for its workers).
 */
async function stopServer(server) {
  const started = Date.now();
  const tree = alive(server.child) ? rememberTree(server.child.pid) : [];
  if (alive(server.child)) server.child.kill('SIGTERM');
  let timer;
  const result = await Promise.race([
    server.child.exited,
    new Promise((resolveTimeout) => (timer = setTimeout(() => resolveTimeout(undefined), 20_000))),
  ]);
  clearTimeout(timer);
  const exit = result ? `${result.code ?? result.signal}` : 'none within 20 s: SIGKILL';
  if (!result) {
    killGroup(server.child.pid);
    await server.child.exited;
  }
  const stopMs = Date.now() - started;
  let leftovers;
  const atExit = survivors(tree).length;
  if (atExit > 0) {
    await sleep(1_000);
    leftovers = `${atExit} server process(es) still running when the primary exited, ${survivors(tree).length} a second later (killed)`;
  }
  killSurvivors(tree);
  killGroup(server.child.pid);
  return { exit, stopMs, leftovers };
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

/**
 * Waits until the server runs all its workers and they are idle. A primary may answer readiness as
 * soon as one worker is up: clients connected before the others boot would all land on that one, and
 * memory measured then would miss the rest. Bounded: 60 s for the processes, then 30 s for quiet.
 */
async function settle(server, workers, pids) {
  const expected = workers > 1 ? workers + 1 : 1;
  try {
    await waitUntil(() => pids().length >= expected, {
      timeoutMs: 60_000,
      what: `${expected} server processes`,
    });
  } catch (error) {
    console.error(`${server.target}: ${error.message}; measuring anyway (${pids().length} processes)`);
  }
  let quiet = 0;
  const deadline = Date.now() + 30_000;
  let before = cpuSeconds(pids());
  while (quiet < 2 && Date.now() < deadline) {
    await sleep(500);
    const now = cpuSeconds(pids());
    quiet = now - before < 0.05 ? quiet + 1 : 0; // under 10% of one core over the half second
    before = now;
  }
}

/** The machine's 1-minute load average: other work on a shared machine skews every figure. */
function loadAverage() {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

async function sleepUntil(wallMs) {
  const wait = wallMs - wallNow();
  if (wait > 0) await sleep(wait);
}

/** The clients of `slices` connect (one slice per loader), create their conversations and join them. */
async function connectAndJoin(fleet, slices, options, clientOptions) {
  const connectStarted = Date.now();
  const connectBudget = Math.ceil(slices[0].length / 50) * clientOptions.connectTimeoutMs + 30_000;
  const connectedReplies = await Promise.all(
    fleet.map((loader, i) =>
      loader.ask({ type: 'init', options: clientOptions, indexes: slices[i] }, 'connected', connectBudget),
    ),
  );
  const connectSeconds = (Date.now() - connectStarted) / 1_000;

  // Each conversation is created by its first member that connected, so that one failed connect
  // costs one member, not a whole room.
  const creators = new Map();
  for (const index of connectedReplies.flatMap((reply) => reply.connected).sort((a, b) => a - b)) {
    const conversation = index % options.conversations;
    if (!creators.has(conversation)) creators.set(conversation, index);
  }
  const creatorList = [...creators.values()];
  const created = await Promise.all(
    fleet.map((loader) => loader.ask({ type: 'create', creators: creatorList }, 'created', 60_000)),
  );
  const conversations = Object.assign({}, ...created.map((reply) => reply.conversations));
  const joined = await Promise.all(
    fleet.map((loader) => loader.ask({ type: 'join', conversations }, 'joined', 120_000)),
  );
  const members = mergeCounts(joined.map((reply) => reply.members));
  return { connectSeconds, conversations, members, creatorList };
}

/** Connects, creates, joins, loads and measures one server; returns its figures. */
async function measure(server, options, redis) {
  const pids = () => rememberTree(server.child.pid);
  await settle(server, options.workers, pids);
  const loadAtStart = loadAverage();
  const processes = pids().length;
  const rssBefore = rssKiB(pids());

  const { slices, clientOptions } = loadPlan(options, server);
  const fleet = slices.map((_, index) => new Loader(index));
  try {
    const { connectSeconds, conversations, members } = await connectAndJoin(
      fleet,
      slices,
      options,
      clientOptions,
    );

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
    const loadAtEnd = loadAverage();
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
      load: { start: loadAtStart, end: loadAtEnd },
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

// ---------------------------------------------------------------------------------------------- answers

/** The fake Ollama (bench/fake-ollama.mjs) on a free loopback port, in a process group of its own. */
async function startFakeOllama(options, workDir) {
  const port = await freePort();
  const logPath = join(workDir, 'fake-ollama.log');
  const args = [
    FAKE_OLLAMA_MAIN,
    '--port',
    String(port),
    '--tokens',
    String(options.answerTokens),
    '--token-delay-ms',
    String(options.tokenDelayMs),
  ];
  const child = spawnGroup(process.execPath, args, {
    cwd: workDir,
    env: { PATH: process.env.PATH ?? '' },
    logPath,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(
    async () => {
      if (!alive(child)) throw new Error(`the fake Ollama exited at start:\n${tail(logPath)}`);
      return (await httpGet(`${url}/api/version`, 1_000)).status === 200;
    },
    { timeoutMs: 10_000, what: `the fake Ollama on ${url}` },
  );
  return { url, child, logPath };
}

/** Everything the fake Ollama recorded (one record per /api/chat request). */
/** Every conversation's asker asks `answers` questions (one after the other) from `startAt` on. */
async function askRound(
  fleet,
  askers,
  options,
  { answers, spreadMs, startAt = wallNow() + 500, firstN = 1 },
) {
  const budget = answers * (options.answerTimeout * 1_000 + 10_000) + spreadMs + 60_000;
  const command = { type: 'ask', askers, startAt, answers, spreadMs, firstN };
  command.answerTimeoutMs = options.answerTimeout * 1_000;
  await Promise.all(fleet.map((loader) => loader.ask(command, 'asked', budget)));
}

async function fakeStats(fake) {
  const answer = await httpGet(`${fake.url}/bench/stats`, 10_000);
  if (answer.status !== 200) throw new Error(`the fake Ollama's /bench/stats answered ${answer.status}`);
  return JSON.parse(answer.body);
}

/**
 * The answers scenario on one server: clients connect, create and join their conversations; each
 * conversation's first member asks `--answers-per-conversation` questions one after the other, all
 * conversations starting at the same moment; every member records the answer's events. Redis is
 * weighed from just before the first question to a second after the last answer ended.
 */
async function measureAnswers(server, options, redis, fake) {
  const pids = () => rememberTree(server.child.pid);
  await settle(server, options.workers, pids);
  const loadAtStart = loadAverage();
  const processes = pids().length;

  const procs = Math.min(options.procs, options.clients);
  const slices = Array.from({ length: procs }, () => []);
  for (let i = 0; i < options.clients; i++) slices[i % procs].push(i);
  const clientOptions = {
    scenario: 'answers',
    url: server.url,
    jwtSecret: server.jwtSecret,
    transports: options.transports,
    conversations: options.conversations,
    totalClients: options.clients,
    tokens: options.answerTokens,
    connectTimeoutMs: 20_000,
    ackTimeoutMs: 10_000,
  };
  const fleet = slices.map((_, index) => new Loader(index));
  let probe;
  try {
    const { connectSeconds, conversations, members, creatorList } = await connectAndJoin(
      fleet,
      slices,
      options,
      clientOptions,
    );
    const joined = Object.values(members).reduce((total, n) => total + n, 0);
    console.log(
      `ours: ${joined} clients joined ${Object.keys(conversations).length} conversations; ` +
        `measuring Redis at rest for 2 s, then ${options.answersPerConversation} question(s) per conversation...`,
    );

    // Published messages are weighed on every channel: in this scenario only our service uses this Redis.
    probe = await RedisProbe.open(redis.port, '*');
    await sleep(1_000); // the joins' own traffic has settled
    const idleStart = await probe.snapshot();
    const idleStartedAt = wallNow();
    await sleep(2_000);
    const idleEnd = await probe.snapshot();
    const idle = {
      inputBytesPerSecond:
        (idleEnd.inputBytes - idleStart.inputBytes) / ((wallNow() - idleStartedAt) / 1_000),
    };

    if (options.answerWarmup > 0) {
      console.log(`ours: warm-up, ${options.answerWarmup} question(s) per conversation (not measured)...`);
      await askRound(fleet, creatorList, options, { answers: options.answerWarmup, spreadMs: 0 });
      await Promise.all(fleet.map((loader) => loader.ask({ type: 'forget-answers' }, 'forgot', 10_000)));
      const reset = await httpPost(`${fake.url}/bench/reset`);
      if (reset.status !== 200) throw new Error(`the fake Ollama's /bench/reset answered ${reset.status}`);
      await sleep(1_000); // the warm-up's last Redis writes
    }
    const before = await probe.snapshot();
    const startAt = wallNow() + 500;
    const cpuPids = () => ({ server: pids(), redis: [redis.child.pid], fake: [fake.child.pid] });
    await sleepUntil(startAt);
    const cpuStart = Object.fromEntries(Object.entries(cpuPids()).map(([k, v]) => [k, cpuSeconds(v)]));
    await askRound(fleet, creatorList, options, {
      answers: options.answersPerConversation,
      spreadMs: options.askSpreadMs,
      startAt,
      firstN: options.answerWarmup + 1,
    });
    const seconds = (wallNow() - startAt) / 1_000;
    const cpuEnd = Object.fromEntries(Object.entries(cpuPids()).map(([k, v]) => [k, cpuSeconds(v)]));
    const loadAtEnd = loadAverage();
    await sleep(1_000); // the other members' last events, the answers' last Redis writes
    const after = await probe.snapshot();

    const reports = (
      await Promise.all(fleet.map((loader) => loader.ask({ type: 'report' }, 'report', 60_000)))
    ).map((reply) => reply.stats);
    const connectMs = sortedOf(reports.map((report) => Float64Array.from(report.connectMs)));
    return summarizeAnswers({
      options,
      reports,
      fake: await fakeStats(fake),
      startAt,
      redis: redisDelta(before, after),
      idle,
      cpu: Object.fromEntries(Object.keys(cpuEnd).map((k) => [k, (cpuEnd[k] - cpuStart[k]) / seconds])),
      clients: options.clients,
      connected: connectMs.length,
      connectSeconds,
      connectMs: { p50: percentile(connectMs, 50), p99: percentile(connectMs, 99) },
      connectFailures: mergeCounts(reports.map((report) => report.connectFailures)),
      createFailures: mergeCounts(reports.map((report) => report.createFailures)),
      joinFailures: mergeCounts(reports.map((report) => report.joinFailures)),
      conversationsCreated: Object.keys(conversations).length,
      joined,
      processes,
      load: { start: loadAtStart, end: loadAtEnd },
    });
  } finally {
    await probe?.close();
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

function summarize({ options, reports, members, conversations, connectSeconds, processes, load, rss, cpu }) {
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
      // Warm-up included: seconds counted from the window's start, negative before it.
      bySecond: p99BySecond(reports.map((report) => report.bySecond)),
    },
    deliveredPerSecond: sum((report) => report.receivedInWindow) / options.duration,
    disconnects: mergeCounts(reports.map((report) => report.disconnects)),
    connectedAtEnd: sum((report) => report.connectedAtEnd),
    otherEvents: mergeCounts(reports.map((report) => report.otherEvents)),
    processes,
    load,
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
  ['server CPU per 1,000 deliveries (ms)', (r) => fmt(cpuMsPerThousand(r), 1), (r) => cpuMsPerThousand(r)],
  ['redis CPU in window (cores)', (r) => fmt(r.cpuCores.redis, 2), (r) => r.cpuCores.redis],
  ['server processes', (r) => String(r.processes)],
  ['server RSS before connect (MiB)', (r) => fmt(r.rssKiB.before / 1024), (r) => r.rssKiB.before],
  ['server RSS after connect (MiB)', (r) => fmt(r.rssKiB.after / 1024), (r) => r.rssKiB.after],
  ['server RSS end of window (MiB)', (r) => fmt(r.rssKiB.loaded / 1024), (r) => r.rssKiB.loaded],
  ['server RSS per connection (KiB)', (r) => fmt(r.rssKiB.perConnection), (r) => r.rssKiB.perConnection],
  ['disconnects during the run', (r) => String(count(r.disconnects)), (r) => count(r.disconnects)],
  ['other events received', (r) => String(count(r.otherEvents))],
  ['server start to ready (s)', (r) => fmt(r.server.startMs / 1_000), (r) => r.server.startMs],
  ['server stop on SIGTERM: exit, s', (r) => `${r.server.exit}, ${fmt(r.server.stopMs / 1_000)}`],
  ['machine load average, start / end', (r) => `${fmt(r.load.start, 2)} / ${fmt(r.load.end, 2)}`],
  [
    'load-gen CPU (cores, per process)',
    (r) => r.loadGenerators.map((generator) => fmt(generator.cpuCores, 2)).join(' / '),
  ],
  [
    'load-gen event-loop delay p99 (ms)',
    (r) => r.loadGenerators.map((generator) => fmt(generator.loopDelayP99Ms)).join(' / '),
  ],
];

/** Server CPU time per 1,000 `message:new` received in the window: what a delivered message costs. */
function cpuMsPerThousand(result) {
  return result.deliveredPerSecond > 0 ? (result.cpuCores.server * 1e6) / result.deliveredPerSecond : NaN;
}

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
  printAlignedTable(header, lines);
}

function printDetails(results) {
  for (const [target, result] of Object.entries(results)) {
    const lines = [];
    if (result.failed) lines.push(`failed: ${result.failed}`);
    else {
      if (result.server.readiness) lines.push(result.server.readiness);
      if (result.server.leftovers) lines.push(`after SIGTERM: ${result.server.leftovers}`);
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
        lines.push(`${title}:`);
        for (const [message, n] of entries.slice(0, 20)) lines.push(`  ${String(n).padStart(7)}  ${message}`);
      }
      const { firstSecond, p99 } = result.latency.bySecond;
      const seconds = p99.map((ms) =>
        Number.isNaN(ms) ? 'n/a' : ms > 2_000 ? '>2000' : String(Math.round(ms)),
      );
      const warmup = Math.max(0, -firstSecond);
      if (seconds.length > 0)
        lines.push(
          'delivery p99 (ms) of each second of sending, warm-up | window: ' +
            `${seconds.slice(0, warmup).join(' ')} | ${seconds.slice(warmup).join(' ')}`,
        );
      if (result.skipped > 0) lines.push(`note: ${result.skipped} sends skipped (50 unacknowledged already)`);
      if (result.stillOutstanding > 0)
        lines.push(`note: ${result.stillOutstanding} acks still outstanding at the end`);
      if (result.duplicates > 0) lines.push(`note: ${result.duplicates} duplicate deliveries`);
      if (result.unacknowledgedDelivered > 0)
        lines.push(`note: ${result.unacknowledgedDelivered} deliveries of messages whose ack failed`);
      if (result.misrouted > 0) lines.push(`note: ${result.misrouted} message:new for another conversation`);
      if (result.connectedAtEnd < result.connected)
        lines.push(
          `note: ${result.connected - result.connectedAtEnd} clients no longer connected at the end`,
        );
    }
    if (lines.length === 0) continue;
    console.log(`\n${target}:`);
    for (const line of lines) console.log(`  ${line}`);
  }
}

/** The four target figures of one round (ratios undefined without a reference run). */
function targetFigures(results) {
  const { ours, reference } = results;
  if (!ours || ours.failed) return undefined;
  const withReference = reference && !reference.failed;
  return {
    connectFailures: ours.clients - ours.connected,
    delivered: ours.deliveredRatio,
    throughput: withReference ? ours.deliveredPerSecond / reference.deliveredPerSecond : undefined,
    p99: withReference ? ours.latency.p99 / reference.latency.p99 : undefined,
    cpuPerDelivery: withReference ? cpuMsPerThousand(ours) / cpuMsPerThousand(reference) : undefined,
  };
}

function printTargets(figures, title = 'Targets') {
  if (!figures) return;
  console.log(`\n${title}:`);
  const line = (met, text) => console.log(`  [${met ? 'met' : 'MISSED'}] ${text}`);
  line(figures.connectFailures === 0, `0 connect failures: ${figures.connectFailures}`);
  line(figures.delivered === 1, `100% delivered: ${fmt(figures.delivered * 100, 2)}%`);
  if (figures.throughput === undefined) {
    console.log('  (the throughput and p99 targets need the reference run)');
    return;
  }
  line(figures.throughput >= 0.9, `delivered msgs/s >= 0.9x reference: ${fmt(figures.throughput, 2)}x`);
  line(figures.p99 <= 1.2, `p99 <= 1.2x reference: ${fmt(figures.p99, 2)}x`);
  // Judged against the storing reference (--reference-store sqlite): the bare one stores nothing.
  line(
    figures.cpuPerDelivery <= 1.25,
    `server CPU per delivery <= 1.25x reference: ${fmt(figures.cpuPerDelivery, 2)}x`,
  );
}

function median(values) {
  const sorted = Float64Array.from(values).sort();
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** With several rounds: the target figures of each, then the targets judged on all of them. */
function printRounds(rounds) {
  const figures = rounds.map((round) => targetFigures(round.results));
  if (figures.some((figure) => !figure || figure.throughput === undefined)) return;
  console.log('\nAll rounds (ratios = ours / reference):');
  console.log('  round | first     | ours connect failures | ours delivered | msgs/s ratio | p99 ratio');
  figures.forEach((figure, i) =>
    console.log(
      `  ${String(i + 1).padEnd(5)} | ${rounds[i].order[0].padEnd(9)} | ${String(figure.connectFailures).padEnd(21)} | ` +
        `${`${fmt(figure.delivered * 100, 2)}%`.padEnd(14)} | ${`${fmt(figure.throughput, 2)}x`.padEnd(12)} | ${fmt(figure.p99, 2)}x`,
    ),
  );
  printTargets(
    {
      connectFailures: figures.reduce((total, figure) => total + figure.connectFailures, 0),
      delivered: Math.min(...figures.map((figure) => figure.delivered)),
      throughput: median(figures.map((figure) => figure.throughput)),
      p99: median(figures.map((figure) => figure.p99)),
      cpuPerDelivery: median(figures.map((figure) => figure.cpuPerDelivery)),
    },
    `Targets over ${rounds.length} rounds (connect failures summed, the worst delivery, median ratios)`,
  );
}

// ------------------------------------------------------------------------------------------------- main

/** Starts one server, measures it, stops it: its figures, or `{ failed }` with the reason. */
async function runTarget(target, label, options, redis, workDir, fake) {
  let server;
  let watcher;
  try {
    console.log(
      `\n${label}: starting ${target === 'ours' ? 'dist/main.js' : 'bench/reference-server.mjs'}...`,
    );
    server = await startServer(target, options, redis, workDir);
    // Workers re-forked during the run are remembered too, so that none outlives the benchmark.
    const child = server.child;
    watcher = setInterval(() => alive(child) && rememberTree(child.pid), 2_000);
    console.log(`${label}: up in ${fmt(server.startMs / 1_000)} s at ${server.url}; connecting clients...`);
    if (options.scenario === 'answers') {
      const result = await measureAnswers(server, options, redis, fake);
      result.server = server;
      console.log(
        `${label}: ${result.outcomes['message:done'] ?? 0}/${result.questions} answers done, ` +
          `${fmt(result.tokensPerSecond, 0)} tokens/s, TTFT p50 ${fmt(result.ms.clientTtft.p50)} ms`,
      );
      return result;
    }
    if (options.scenario === 'capacity' || options.scenario === 'idle') {
      const measureScenario = options.scenario === 'capacity' ? measureCapacity : measureIdle;
      return { ...(await measureScenario(server, options, redis, SCENARIO_HOOKS)), server };
    }
    if (options.scenario === 'hostile') {
      const result = await measureHostile(server, options, redis, {
        Loader,
        settle,
        connectAndJoin,
        rememberTree,
      });
      result.server = server;
      return result;
    }
    const result = await measure(server, options, redis);
    result.server = server;
    console.log(
      `${label}: ${result.connected}/${result.clients} connected, ${fmt(result.deliveredRatio * 100, 2)}% delivered, ` +
        `p99 ${fmt(result.latency.p99)} ms, ${fmt(result.deliveredPerSecond, 0)} msgs/s`,
    );
    return result;
  } catch (error) {
    console.error(`${label}: FAILED: ${error.message}`);
    return { failed: error.message };
  } finally {
    clearInterval(watcher);
    if (server) {
      const stopped = await stopServer(server);
      Object.assign(server, stopped);
      console.log(`${label}: stopped (exit ${stopped.exit}) in ${fmt(stopped.stopMs / 1_000)} s`);
    }
  }
}

/** A fresh PostgreSQL database on the server of `serverUrl`, so every run starts from an empty schema. */
async function createBenchDatabase(serverUrl) {
  const { default: pg } = await import('pg');
  const name = `bench_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/** run.mjs's helpers, for the scenarios in modules of their own (they cannot import this file: it runs). */
const SCENARIO_HOOKS = { Loader, settle, connectAndJoin, rememberTree, runTarget, createBenchDatabase };

async function main() {
  // Its own options and its own service: bench/cancel.mjs.
  const args = process.argv.slice(2);
  if (args.includes('--scenario=cancel') || args[args.indexOf('--scenario') + 1] === 'cancel') {
    const { runCancelBench } = await import('./cancel.mjs');
    return runCancelBench(args);
  }
  const options = parseOptions(process.argv.slice(2));
  if (options.scenario === 'idle') Object.assign(options, planIdleLimits(options));
  const workDir = mkdtempSync(join(tmpdir(), 'chat-bench-'));
  if (!options.keep) interruptedCleanup = workDir;
  const expectedPerSecond = options.clients * options.rate * (options.clients / options.conversations);
  const transports = `transports ${options.transports === 'default' ? 'default (polling, then upgrade)' : 'websocket only'}`;
  const procs =
    `${Math.min(options.procs, options.clients)} load-generator processes` +
    (options.serverNice > 0
      ? `, servers at nice ${options.serverNice}`
      : ", servers at the load generators' priority") +
    (options.scenario === 'messages' && options.referenceStore === 'sqlite'
      ? ', the reference storing messages in SQLite'
      : '') +
    (options.scenario === 'messages' && options.referenceCpuUs > 0
      ? `, the reference burning ${options.referenceCpuUs} µs of CPU per message`
      : '');
  if (options.scenario === 'capacity') console.log(describeCapacity(options, transports));
  else if (options.scenario === 'idle') console.log(describeIdle(options, transports));
  else if (options.scenario === 'answers')
    console.log(
      `bench, answers scenario: ours only (the reference server has no answers). ${options.conversations} conversations ` +
        `of ${options.members} member(s), ${options.answersPerConversation} question(s) each, all conversations at once; ` +
        `a fake Ollama streaming ${options.answerTokens} tokens per answer ` +
        `(${options.tokenDelayMs > 0 ? `${options.tokenDelayMs} ms before each` : 'no delay: full speed'}); ` +
        `${options.workers} workers, ${transports}, ${procs}`,
    );
  else
    console.log(
      `bench: ${options.clients} clients, ${options.conversations} conversations (~${fmt(options.clients / options.conversations)} members each), ` +
        `${options.rate} msg/s per client (~${fmt(expectedPerSecond, 0)} deliveries/s), ${options.workers} workers, ` +
        `${transports}, warm-up ${options.warmup} s, window ${options.duration} s, drain ${options.drain} s, ${procs}` +
        (options.scenario === 'hostile'
          ? `; hostile: ours only, window = baseline, then ${options.duration} s of attack ` +
            `(${options.attackers.join(', ')}) and ${options.after} s after it`
          : ''),
    );
  console.log(
    `machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}; work directory ${workDir}`,
  );

  const redis = await startRedis(workDir);
  console.log(`redis-server ${redis.version} on 127.0.0.1:${redis.port}`);
  // Capacity creates the database of ours-postgres itself, and runs ours-sqlite on SQLite.
  const database =
    options.database === 'sqlite' || options.scenario === 'capacity'
      ? undefined
      : await createBenchDatabase(options.database);
  if (database) {
    options.databaseUrl = database.url;
    console.log(`our database: PostgreSQL ${database.name} (created for this run)`);
  }
  let fake;
  if (options.scenario === 'answers') {
    fake = await startFakeOllama(options, workDir);
    options.ollamaUrl = fake.url;
    console.log(`fake Ollama on ${fake.url}`);
  }
  const rounds = [];
  let failed = false;
  for (let round = 1; round <= options.rounds; round++) {
    // Alternating which side goes first spreads the machine's drifts (other work, warm caches) evenly.
    const order = round % 2 === 1 ? options.targets : [...options.targets].reverse();
    const results = {};
    for (const target of order) {
      const label = options.rounds > 1 ? `round ${round}, ${target}` : target;
      const outcome =
        options.scenario === 'capacity'
          ? await runCapacityServer(target, label, options, redis, workDir, SCENARIO_HOOKS)
          : await runTarget(target, label, options, redis, workDir, fake);
      if (outcome.failed) failed = true;
      results[target] = outcome;
    }
    // Columns always in the same order: ours, then the reference.
    const ordered = {};
    for (const target of options.targets) ordered[target] = results[target];
    rounds.push({
      order,
      results: ordered,
      ...(options.scenario === 'capacity' ? { summary: summarizeCapacity(ordered) } : {}),
    });
  }
  for (const child of [fake?.child, redis.child]) {
    if (!child) continue;
    child.kill('SIGTERM');
    await Promise.race([child.exited, sleep(5_000)]);
  }

  const command = ['npm run bench --', ...process.argv.slice(2)].join(' ');
  if (options.scenario === 'answers') {
    console.log(`\nResults (the command: ${command})\n`);
    printAnswers(rounds.map(({ results }) => results.ours));
  }
  if (options.scenario === 'hostile')
    for (const { results } of rounds) if (!results.ours.failed) printHostile(results.ours, command);
  if (options.scenario === 'capacity')
    for (const { results, summary } of rounds) printCapacity(results, summary, options, command);
  if (options.scenario === 'idle') for (const { results } of rounds) printIdle(results, command);
  if (options.scenario === 'messages')
    rounds.forEach(({ results }, i) => {
      const title = options.rounds > 1 ? `Round ${i + 1} of ${options.rounds}` : 'Results';
      console.log(`\n${title} (ratio = ours / reference; the command: ${command})\n`);
      printTable(results);
      printDetails(results);
      printTargets(targetFigures(results));
    });
  if (options.rounds > 1 && options.scenario === 'messages') printRounds(rounds);

  if (options.json) {
    const plain = JSON.parse(
      JSON.stringify(rounds, (key, value) =>
        key === 'child' ? undefined : key === 'jwtSecret' ? '***' : value,
      ),
    );
    writeFileSync(options.json, `${JSON.stringify({ options, rounds: plain }, null, 2)}\n`);
    console.log(`\nJSON written to ${options.json}`);
  }
  if (database) await database.drop();
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
