// `npm run bench -- --scenario capacity`: raises the offered message load step by step until a server
// fails a step, for four servers one after the other (ours on SQLite, ours on PostgreSQL, the reference
// storing in SQLite, the bare reference), and reports each one's capacity: the highest offered load of
// a step it passed. The clients connect and join once per server; the load generators follow a
// schedule of rates (load-generator.mjs), so the rate changes between steps without reconnecting.
// See docs/benchmarks.md.
import { clearTimeout, setTimeout } from 'node:timers';
import {
  countOf,
  cpuSeconds,
  fmt,
  histogramPercentile,
  loadPlan,
  mergeCounts,
  percentile,
  rssKiB,
  SECOND_BUCKETS,
  sleep,
  sleepUntil,
  sortedOf,
  wallNow,
} from './lib.mjs';

/** The servers, in the order they run; `--only` picks among these names. */
export const CAPACITY_SERVERS = {
  'ours-sqlite': { target: 'ours', title: 'ours, SQLite' },
  'ours-postgres': { target: 'ours', title: 'ours, PostgreSQL', postgres: true },
  'reference-storing': {
    target: 'reference',
    title: 'reference, storing in SQLite',
    referenceStore: 'sqlite',
  },
  'reference-bare': { target: 'reference', title: 'reference, bare', referenceStore: 'none' },
};
export const DEFAULT_CAPACITY_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres';
/** Our per-user limit (src/chat/chat-rate-limiter.ts, 100 events per 30 s): beyond it sends are RATE_LIMITED. */
const OUR_USER_EVENTS_PER_SECOND = 100 / 30;

/** The rate of each step, msg/s per client: from --start-rate up by --step-rate, within --max-rate. */
export function stepRates({ startRate, stepRate, maxRate }) {
  const rates = [];
  // Rounded so that 0.25 + 11 x 0.25 is 3, not 2.9999999999999996, and the last step is not lost.
  for (let rate = startRate; rate <= maxRate + 1e-9; rate = Math.round((rate + stepRate) * 1e6) / 1e6)
    rates.push(rate);
  return rates;
}

export function describeCapacity(options, transports) {
  const rates = stepRates(options);
  const limit = rates.find((rate) => rate > OUR_USER_EVENTS_PER_SECOND);
  return (
    `bench, capacity scenario: ${options.targets.join(', ')}, one after the other. ${options.clients} clients, ` +
    `${options.conversations} conversations (~${fmt(options.clients / options.conversations)} members each), ` +
    `${options.workers} workers, ${transports}, ${Math.min(options.procs, options.clients)} load-generator processes; ` +
    `a warm-up of ${options.warmup} s at the first step's rate, then steps of ${options.stepSeconds} s ` +
    `(the first ${options.stepSettle} s not measured) at ` +
    `${rates.join(', ')} msg/s per client; a step fails when its delivery p99 passes ${options.p99LimitMs} ms ` +
    `or anything is lost (checked ${options.drain} s after the step); a server stops at its first failing step` +
    (limit !== undefined
      ? `\nnote: our service refuses more than 100 events per user per 30 s (RATE_LIMITED): its steps from ` +
        `${limit} msg/s per client fail by design`
      : '')
  );
}

/** Runs one named server through runTarget; ours-postgres gets a database of its own, dropped after. */
export async function runCapacityServer(name, label, options, redis, workDir, run) {
  const spec = CAPACITY_SERVERS[name];
  let database;
  try {
    if (spec.postgres) {
      database = await run.createBenchDatabase(options.capacityPostgres);
      console.log(`\n${label}: PostgreSQL database ${database.name} created for this server`);
    }
    const serverOptions = {
      ...options,
      capacityLabel: label,
      databaseUrl: database?.url,
      referenceStore: spec.referenceStore ?? options.referenceStore,
    };
    return { ...(await run.runTarget(spec.target, label, serverOptions, redis, workDir)), title: spec.title };
  } catch (error) {
    console.error(`${label}: FAILED: ${error.message}`);
    return { failed: error.message, title: spec.title };
  } finally {
    await database
      ?.drop()
      .catch((error) => console.error(`${label}: could not drop ${database.name}: ${error.message}`));
  }
}

/**
 * Each step's wall-clock bounds and its seconds counted from the first step's start (the load
 * generators' histograms count seconds the same way), and the schedule of rates they follow: a
 * warm-up at the first step's rate from `loadStart`, not judged (a fresh server compiles its hot paths
 * in its first seconds of load), then the steps.
 */
function planSteps(options, loadStart) {
  const stepMs = options.stepSeconds * 1_000;
  const startAt = loadStart + options.warmup * 1_000;
  const steps = stepRates(options).map((rate, i) => ({
    index: i + 1,
    rate,
    start: startAt + i * stepMs,
    measuredFrom: startAt + i * stepMs + options.stepSettle * 1_000,
    end: startAt + (i + 1) * stepMs,
    seconds: {
      fromSecond: i * options.stepSeconds,
      measuredFromSecond: i * options.stepSeconds + options.stepSettle,
      toSecond: (i + 1) * options.stepSeconds,
    },
  }));
  const warmup = { from: loadStart, intervalMs: 1_000 / steps[0].rate };
  return {
    steps,
    loadStart,
    schedule: [warmup, ...steps.map((step) => ({ from: step.start, intervalMs: 1_000 / step.rate }))],
    end: steps.at(-1).end,
  };
}

/** `fn()` at wall-clock `wallMs` (its timer kept in `timers`, so a server that fails early clears it). */
function at(wallMs, fn, timers) {
  return new Promise((resolve) =>
    timers.push(setTimeout(() => resolve(fn()), Math.max(0, wallMs - wallNow()))),
  );
}

/** The differences of the load generators' cumulative counters since the last step; updates `last`. */
function countersSince(replies, last) {
  const delta = { skipped: 0, disconnects: 0, misrouted: 0 };
  replies.forEach((reply, i) => {
    for (const name of Object.keys(delta)) {
      delta[name] += reply[name] - last[i][name];
      last[i][name] = reply[name];
    }
  });
  return delta;
}

/** Why a step failed (empty when it passed). */
function failureReasons(step, options) {
  const reasons = [];
  const p99 = step.deliveryMs.p99;
  if (Number.isNaN(p99)) reasons.push('no delivery measured');
  else if (p99 > options.p99LimitMs)
    reasons.push(`delivery p99 ${p99 > 2_000 ? '>2,000' : fmt(p99)} ms > ${options.p99LimitMs}`);
  if (step.lostDeliveries > 0) reasons.push(`${step.lostDeliveries} deliveries missing`);
  const codes = Object.entries(step.ackFailures).map(([code, n]) => `${code} ${n}`);
  if (codes.length > 0) reasons.push(`${countOf(step.ackFailures)} acks failed (${codes.join(', ')})`);
  if (step.unanswered > 0) reasons.push(`${step.unanswered} acks unanswered after ${options.drain} s`);
  if (step.disconnects > 0) reasons.push(`${step.disconnects} disconnects`);
  if (step.skipped > 0) reasons.push(`${step.skipped} sends skipped (50 acks outstanding)`);
  if (step.misrouted > 0) reasons.push(`${step.misrouted} deliveries to another conversation`);
  return reasons;
}

/** One step's figures from the load generators' replies, the CPU/RSS snapshots and the room sizes. */
function stepFigures({ step, replies, counters, from, to, members, options }) {
  const senders = Object.values(members).reduce((total, n) => total + n, 0);
  const squares = Object.values(members).reduce((total, n) => total + n * n, 0);
  const ackedByConversation = mergeCounts(replies.map((reply) => reply.ackedByConversation));
  const expected = Object.entries(ackedByConversation).reduce(
    (total, [conversation, n]) => total + n * (members[conversation] ?? 0),
    0,
  );
  const histogram = new Uint32Array(SECOND_BUCKETS);
  for (const reply of replies) for (let i = 0; i < histogram.length; i++) histogram[i] += reply.histogram[i];
  const measured = histogram.reduce((total, n) => total + n, 0);
  const ackMs = sortedOf(replies.map((reply) => reply.ackMs));
  const sum = (pick) => replies.reduce((total, reply) => total + pick(reply), 0);
  const ackFailures = mergeCounts(replies.map((reply) => reply.ackFailures));
  const seconds = (to.t - from.t) / 1_000;
  const figures = {
    index: step.index,
    rate: step.rate,
    offered: { messagesPerSecond: step.rate * senders, deliveriesPerSecond: step.rate * squares },
    sent: sum((reply) => reply.sent),
    acked: sum((reply) => reply.acked),
    ackFailures,
    unanswered: Math.max(0, sum((reply) => reply.sent) - sum((reply) => reply.acked) - countOf(ackFailures)),
    expected,
    delivered: sum((reply) => reply.delivered),
    lostDeliveries: Math.max(0, expected - sum((reply) => reply.delivered)),
    deliveredPerSecond: measured / (options.stepSeconds - options.stepSettle),
    ackMs: { p50: percentile(ackMs, 50), p99: percentile(ackMs, 99) },
    deliveryMs: { p50: histogramPercentile(histogram, 50), p99: histogramPercentile(histogram, 99) },
    ...counters,
    cores: {
      server: (to.server - from.server) / seconds,
      loadGenerators: (to.loadGenerators - from.loadGenerators) / seconds,
      redis: (to.redis - from.redis) / seconds,
    },
    rssKiB: to.rssKiB,
  };
  figures.reasons = failureReasons(figures, options);
  figures.passed = figures.reasons.length === 0;
  return figures;
}

/** The highest offered load of a passed step (0 when the first failed), and the first failing step. */
export function capacityOf(steps) {
  const passed = steps.filter((step) => step.passed).at(-1);
  const failed = steps.find((step) => !step.passed);
  return {
    ratePerClient: passed?.rate ?? 0,
    messagesPerSecond: passed?.offered.messagesPerSecond ?? 0,
    deliveriesPerSecond: passed?.offered.deliveriesPerSecond ?? 0,
    firstFailure: failed ? { rate: failed.rate, reasons: failed.reasons } : undefined,
  };
}

/**
 * The capacity scenario on one running server: connect and join once, then the steps on one
 * continuous load; each step is judged `--drain` s after its end (while the next one already runs),
 * and the load stops at the first failing step. `run` carries run.mjs's helpers.
 */
export async function measureCapacity(server, options, redis, run) {
  const pids = () => run.rememberTree(server.child.pid);
  await run.settle(server, options.workers, pids);
  const rssEmptyKiB = rssKiB(pids());
  const { slices, clientOptions } = loadPlan(options, server, { stepped: true });
  const fleet = slices.map((_, index) => new run.Loader(index));
  const timers = [];
  try {
    const { connectSeconds, members } = await run.connectAndJoin(fleet, slices, options, clientOptions);
    await sleep(2_000); // the joins and upgrades settled
    const plan = planSteps(options, wallNow() + 500);
    const [windowStart, loaderPids] = [plan.steps[0].start, fleet.map((loader) => loader.child.pid)];
    for (const loader of fleet)
      loader.tell({
        type: 'load',
        startAt: plan.loadStart,
        windowStart,
        windowEnd: plan.end,
        schedule: plan.schedule,
      });
    const snapshot = () => ({
      t: wallNow(),
      server: cpuSeconds(pids()),
      loadGenerators: cpuSeconds(loaderPids),
      redis: cpuSeconds([redis.child.pid]),
      rssKiB: rssKiB(pids()),
    });
    const marks = plan.steps.map((step) => ({
      from: at(step.measuredFrom, snapshot, timers),
      to: at(step.end, snapshot, timers),
    }));
    const last = fleet.map(() => ({ skipped: 0, disconnects: 0, misrouted: 0 }));
    const steps = [];
    for (const [i, step] of plan.steps.entries()) {
      await sleepUntil(step.end + options.drain * 1_000);
      const replies = (
        await Promise.all(
          fleet.map((loader) => loader.ask({ type: 'step', ...step.seconds }, 'step', 60_000)),
        )
      ).map((reply) => reply.figures);
      const [from, to] = await Promise.all([marks[i].from, marks[i].to]);
      const counters = countersSince(replies, last);
      steps.push(stepFigures({ step, replies, counters, from, to, members, options }));
      logStep(options.capacityLabel ?? server.target, steps.at(-1));
      if (!steps.at(-1).passed) break;
    }
    for (const loader of fleet) loader.tell({ type: 'stop-load' });
    const reports = (
      await Promise.all(fleet.map((loader) => loader.ask({ type: 'report' }, 'report', 60_000)))
    ).map((reply) => reply.stats);
    return {
      scenario: 'capacity',
      clients: options.clients,
      connected: reports.reduce((total, report) => total + report.connectMs.length, 0),
      connectSeconds,
      connectFailures: mergeCounts(reports.map((report) => report.connectFailures)),
      joined: Object.values(members).reduce((total, n) => total + n, 0),
      transports: mergeCounts(reports.map((report) => report.transports)),
      rssEmptyKiB,
      steps,
      capacity: capacityOf(steps),
    };
  } finally {
    for (const timer of timers) clearTimeout(timer);
    await Promise.all(fleet.map((loader) => loader.close()));
  }
}

function logStep(label, step) {
  console.log(
    `${label}: step ${step.index} at ${step.rate} msg/s per client (${fmt(step.offered.messagesPerSecond, 0)} msg/s): ` +
      `delivery p99 ${fmt(step.deliveryMs.p99)} ms, ${step.lostDeliveries} deliveries missing, ` +
      `server ${fmt(step.cores.server, 2)} cores: ${step.passed ? 'passed' : `FAILED (${step.reasons.join('; ')})`}`,
  );
}
