// `npm run bench -- --scenario idle`: many connected sockets that do nothing, on our service and on the
// bare reference one after the other: the empty service's memory and CPU, then the same with every
// client connected and joined and sitting idle; RSS per socket and idle CPU, per process too.
// See docs/benchmarks.md.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { clearInterval, setInterval } from 'node:timers';
import {
  countLines,
  countOf,
  cpuSeconds,
  fmt,
  loadPlan,
  mergeCounts,
  openDescriptors,
  openFileLimits,
  printAlignedTable,
  rssKiB,
  sleep,
  wallNow,
} from './lib.mjs';

/** Seconds over which the empty service's CPU is measured. */
const EMPTY_CPU_SECONDS = 10;
/** The goals for ours: memory per idle socket and the CPU of a service whose sockets are all idle. */
const GOALS = { rssPerSocketKiB: 30, idleCores: 0.1 };
/** Descriptors a primary keeps besides client connections (src/common/http-limits.ts: 5 %, at least 256). */
const reserveOf = (limit) => Math.max(256, Math.ceil(limit * 0.05));
/** The primary's idle upstream pool (src/cluster/primary-proxy.ts: 256 sockets per worker). */
const IDLE_UPSTREAM_PER_WORKER = 256;

const prlimitWorks = () => spawnSync('prlimit', ['--version']).status === 0;

/**
 * What the idle scenario sets beyond the messages scenario. MAX_HTTP_CONNECTIONS: two connections per
 * client (a long-poll and a POST while on polling), never below the default 10000. Our primary holds
 * two descriptors per connection it proxies, so the servers' open-file limit is raised to fit that
 * where the hard limit allows; the service lowers the cap itself (and logs it) where it does not.
 * Load generators hold about three descriptors per client while connecting.
 */
export function planIdleLimits(options) {
  const maxHttpConnections = Math.max(10_000, 2 * options.clients);
  const serverNeeds = Math.ceil(
    (2 * maxHttpConnections + IDLE_UPSTREAM_PER_WORKER * options.workers + 256) / 0.95,
  );
  const loaderNeeds = 3 * Math.ceil(options.clients / Math.min(options.procs, options.clients)) + 256;
  const limits = openFileLimits() ?? { soft: Infinity, hard: Infinity };
  const notes = [];
  const canRaise = prlimitWorks();
  const raised = (needs) => (limits.soft >= needs || !canRaise ? undefined : Math.min(needs, limits.hard));
  const plan = {
    serverEnv: { ours: { MAX_HTTP_CONNECTIONS: String(maxHttpConnections) } },
    serverFileLimit: raised(serverNeeds),
    loaderFileLimit: raised(loaderNeeds),
  };
  const fileLimit = plan.serverFileLimit ?? limits.soft;
  if (fileLimit < serverNeeds) {
    const cap = Math.floor(
      (fileLimit - reserveOf(fileLimit) - IDLE_UPSTREAM_PER_WORKER * options.workers) / 2,
    );
    notes.push(
      `the servers' open-file limit is ${fileLimit} (hard ${limits.hard}${canRaise ? '' : '; prlimit not found'}), ` +
        `below the ${serverNeeds} our primary needs for MAX_HTTP_CONNECTIONS=${maxHttpConnections}: ` +
        `it lowers the cap to about ${cap} connections at once (its log line is printed below)`,
    );
  }
  if (Math.min(plan.loaderFileLimit ?? limits.soft, limits.hard) < loaderNeeds)
    notes.push(
      `the load generators' open-file limit is below the ${loaderNeeds} they may need: raise ulimit -n`,
    );
  plan.limitNotes = notes;
  return plan;
}

export function describeIdle(options, transports) {
  const lines = [
    `bench, idle scenario: ${options.targets.join(', ')} (the bare reference), one after the other. ${options.clients} ` +
      `clients in ${options.conversations} conversations (~${fmt(options.clients / options.conversations)} members each), ` +
      `${options.workers} workers, ${transports}, ${Math.min(options.procs, options.clients)} load-generator processes; ` +
      `the empty service measured for ${EMPTY_CPU_SECONDS} s, then connected and idle for ${options.duration} s`,
    `set beyond the messages scenario: ours ${Object.entries(options.serverEnv.ours)
      .map(([name, value]) => `${name}=${value}`)
      .join(' ')}; open-file limit of the servers ${options.serverFileLimit ?? 'unchanged'}, ` +
      `of the load generators ${options.loaderFileLimit ?? 'unchanged'} (this process: ${JSON.stringify(openFileLimits())})`,
  ];
  return [...lines, ...options.limitNotes.map((note) => `note: ${note}`)].join('\n');
}

/** Every server process's RSS at the end of `seconds` and its CPU over them; totals too. */
async function measureProcesses(pids, primaryPid, seconds) {
  const before = new Map(pids().map((pid) => [pid, cpuSeconds([pid])]));
  const started = wallNow();
  await sleep(seconds * 1_000);
  const elapsed = (wallNow() - started) / 1_000;
  const processes = pids().map((pid) => ({
    pid,
    role: pid === primaryPid ? 'primary' : 'worker',
    rssKiB: rssKiB([pid]),
    // A process started meanwhile (a worker re-forked) has no CPU figure for the whole window.
    cores: before.has(pid) ? (cpuSeconds([pid]) - before.get(pid)) / elapsed : Number.NaN,
  }));
  return {
    processes,
    rssKiB: processes.reduce((total, p) => total + p.rssKiB, 0),
    cores: processes.reduce((total, p) => total + (Number.isNaN(p.cores) ? 0 : p.cores), 0),
  };
}

/** The primary's open descriptors every second: the peak shows how near the connection cap it came. */
function watchDescriptors(pid) {
  const watch = { start: openDescriptors(pid), peak: openDescriptors(pid) };
  const timer = setInterval(() => (watch.peak = Math.max(watch.peak, openDescriptors(pid) || 0)), 1_000);
  watch.stop = () => {
    if (watch.end !== undefined) return; // stopped already: keep the figure taken then
    clearInterval(timer);
    watch.end = openDescriptors(pid);
  };
  return watch;
}

/** Raises a forked load generator's open-file limit (before it opens a socket), where that is needed. */
function raiseFileLimit(pid, limit) {
  if (limit === undefined) return;
  const hard = openFileLimits()?.hard ?? limit;
  const result = spawnSync('prlimit', ['--pid', String(pid), `--nofile=${limit}:${hard}`], {
    encoding: 'utf8',
  });
  if (result.status !== 0) console.error(`idle: prlimit on load generator ${pid}: ${result.stderr.trim()}`);
}

/** Lines of the server's log about connection limits (our service says when it lowers or hits its cap). */
function limitLogLines(logPath) {
  try {
    return readFileSync(logPath, 'utf8')
      .split('\n')
      .filter((line) =>
        /open-file limit|MAX_HTTP_CONNECTIONS|closed on arrival|too_many_connections/.test(line),
      )
      .slice(0, 5)
      .map((line) => line.slice(0, 400));
  } catch {
    return [];
  }
}

/** The idle scenario on one running server. `run` carries run.mjs's helpers. */
export async function measureIdle(server, options, redis, run) {
  const primaryPid = server.child.pid;
  const pids = () => run.rememberTree(primaryPid);
  await run.settle(server, options.workers, pids);
  console.log(`${server.target}: measuring the empty service for ${EMPTY_CPU_SECONDS} s...`);
  const empty = await measureProcesses(pids, primaryPid, EMPTY_CPU_SECONDS);
  const { slices, clientOptions } = loadPlan(options, server);
  const fleet = slices.map((_, index) => new run.Loader(index));
  for (const loader of fleet) raiseFileLimit(loader.child.pid, options.loaderFileLimit);
  const descriptors = watchDescriptors(primaryPid);
  try {
    console.log(`${server.target}: connecting ${options.clients} clients...`);
    const joinedUp = await run.connectAndJoin(fleet, slices, options, clientOptions);
    await sleep(2_000); // the last upgrades to websocket finish
    console.log(`${server.target}: connected and joined; idle for ${options.duration} s...`);
    const loaderPids = fleet.map((loader) => loader.child.pid);
    // Redis too: a service may keep writing to it for sockets that do nothing (session and slot TTLs).
    const [loaderCpu, redisCpu] = [cpuSeconds(loaderPids), cpuSeconds([redis.child.pid])];
    const idle = await measureProcesses(pids, primaryPid, options.duration);
    const cores = {
      loadGenerators: (cpuSeconds(loaderPids) - loaderCpu) / options.duration,
      redis: (cpuSeconds([redis.child.pid]) - redisCpu) / options.duration,
    };
    const reports = (
      await Promise.all(fleet.map((loader) => loader.ask({ type: 'report' }, 'report', 120_000)))
    ).map((reply) => reply.stats);
    descriptors.stop();
    return summarizeIdle({
      options,
      server,
      reports,
      joinedUp,
      empty,
      idle,
      cores,
      descriptors,
    });
  } finally {
    descriptors.stop();
    await Promise.all(fleet.map((loader) => loader.close()));
  }
}

function summarizeIdle({ options, server, reports, joinedUp, empty, idle, cores, descriptors }) {
  const sum = (pick) => reports.reduce((total, report) => total + pick(report), 0);
  const sockets = sum((report) => report.connectedAtEnd);
  const rssPerSocketKiB = sockets > 0 ? (idle.rssKiB - empty.rssKiB) / sockets : Number.NaN;
  return {
    scenario: 'idle',
    clients: options.clients,
    connected: sum((report) => report.connectMs.length),
    connectSeconds: joinedUp.connectSeconds,
    connectFailures: mergeCounts(reports.map((report) => report.connectFailures)),
    createFailures: mergeCounts(reports.map((report) => report.createFailures)),
    joinFailures: mergeCounts(reports.map((report) => report.joinFailures)),
    conversationsCreated: Object.keys(joinedUp.conversations).length,
    joined: Object.values(joinedUp.members).reduce((total, n) => total + n, 0),
    sockets,
    transportsAtEnd: mergeCounts(reports.map((report) => report.transportsAtEnd)),
    disconnects: mergeCounts(reports.map((report) => report.disconnects)),
    empty,
    idle,
    rssPerSocketKiB,
    primaryDescriptors: { empty: descriptors.start, peak: descriptors.peak, end: descriptors.end },
    loadGeneratorCores: cores.loadGenerators,
    redisCores: cores.redis,
    limitLog: server.target === 'ours' ? limitLogLines(server.logPath) : [],
    goals:
      server.target === 'ours'
        ? { rssPerSocket: rssPerSocketKiB <= GOALS.rssPerSocketKiB, idleCpu: idle.cores <= GOALS.idleCores }
        : undefined,
  };
}

// ----------------------------------------------------------------------------------------------- report

const mib = (kib) => fmt(kib / 1024);
const ROWS = [
  ['clients connected', (r) => `${r.connected}/${r.clients} in ${fmt(r.connectSeconds)} s`],
  ['connect failures', (r) => String(countOf(r.connectFailures))],
  ['conversations created / clients joined', (r) => `${r.conversationsCreated} / ${r.joined}`],
  ['sockets connected after the idle window', (r) => String(r.sockets)],
  ['  of which on websocket', (r) => String(r.transportsAtEnd.websocket ?? 0)],
  ['disconnects', (r) => String(countOf(r.disconnects))],
  ['server processes', (r) => String(r.idle.processes.length)],
  ['RSS empty (MiB)', (r) => mib(r.empty.rssKiB)],
  ['RSS after the idle window (MiB)', (r) => mib(r.idle.rssKiB)],
  ['RSS per socket (KiB)', (r) => fmt(r.rssPerSocketKiB)],
  [`CPU empty, ${EMPTY_CPU_SECONDS} s (cores)`, (r) => fmt(r.empty.cores, 3)],
  ['CPU idle with the sockets (cores)', (r) => fmt(r.idle.cores, 3)],
  ['primary descriptors: empty / peak / end', (r) => Object.values(r.primaryDescriptors).join(' / ')],
  ['redis CPU while idle (cores)', (r) => fmt(r.redisCores, 3)],
  ['load-gen CPU while idle (cores)', (r) => fmt(r.loadGeneratorCores, 3)],
];

function printProcesses(target, r) {
  console.log(`\n${target}: per process (CPU in cores)`);
  const emptyOf = new Map(r.empty.processes.map((p) => [p.pid, p]));
  printAlignedTable(
    ['process', 'RSS empty (MiB)', 'RSS idle end (MiB)', 'grew (MiB)', 'CPU empty', 'CPU idle'],
    r.idle.processes.map((p) => {
      const before = emptyOf.get(p.pid);
      return [
        `${p.role} ${p.pid}`,
        before ? mib(before.rssKiB) : 'n/a',
        mib(p.rssKiB),
        before ? mib(p.rssKiB - before.rssKiB) : 'n/a',
        before ? fmt(before.cores, 3) : 'n/a',
        fmt(p.cores, 3),
      ];
    }),
  );
  for (const [title, counts] of [
    ['connect failures', r.connectFailures],
    ['create failures', r.createFailures],
    ['join failures', r.joinFailures],
    ['disconnect reasons', r.disconnects],
  ]) {
    const lines = countLines(counts);
    if (lines.length > 0) console.log(`  ${title}:\n${lines.map((line) => `    ${line}`).join('\n')}`);
  }
  for (const line of r.limitLog) console.log(`  server log: ${line}`);
}

export function printIdle(results, command) {
  console.log(`\nIdle sockets (the command: ${command})\n`);
  const targets = Object.keys(results);
  const shown = (target, show) => (results[target].failed ? 'failed' : show(results[target]));
  printAlignedTable(
    ['metric', ...targets],
    ROWS.map(([label, show]) => [label, ...targets.map((target) => shown(target, show))]),
  );
  for (const target of targets)
    if (results[target].failed) console.log(`\n${target}: failed: ${results[target].failed}`);
    else printProcesses(target, results[target]);
  const ours = results.ours;
  if (!ours || ours.failed) return;
  const line = (met, text) => console.log(`  [${met ? 'met' : 'MISSED'}] ${text}`);
  console.log('\nGoals (ours):');
  line(
    ours.goals.rssPerSocket,
    `RSS per socket <= ${GOALS.rssPerSocketKiB} KB: ${fmt(ours.rssPerSocketKiB)} KiB`,
  );
  line(ours.goals.idleCpu, `idle CPU <= ${GOALS.idleCores} cores: ${fmt(ours.idle.cores, 3)} cores`);
}
