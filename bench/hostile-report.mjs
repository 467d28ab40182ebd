// The hostile scenario's figures (hostile.mjs): the normal clients' delivery per phase, liveness, the
// server's descriptors and memory, and what each attacker achieved; then the printed report.
import { mergeCounts, percentile, printAlignedTable, SECOND_BUCKET_MS, SECOND_BUCKETS } from './lib.mjs';

const PHASES = ['baseline', 'attack', 'after'];
const fmt = (value, digits = 1) =>
  value === undefined || Number.isNaN(value)
    ? 'n/a'
    : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const mib = (kib) => fmt(kib / 1024);

/** p50 and p99 (bucket upper bounds, ms) and how many took 2 s or more, from per-second histograms. */
function histogramFigures(reports, fromSecond, toSecond) {
  const merged = new Float64Array(SECOND_BUCKETS);
  for (const report of reports)
    for (const [second, histogram] of report.bySecond)
      if (second >= fromSecond && second < toSecond)
        for (let i = 0; i < histogram.length; i++) merged[i] += histogram[i];
  const total = merged.reduce((sum, n) => sum + n, 0);
  const at = (p) => {
    const rank = Math.ceil(total * p);
    let seen = 0;
    for (let i = 0; i < merged.length; i++)
      if ((seen += merged[i]) >= rank && rank > 0) return (i + 1) * SECOND_BUCKET_MS;
    return Number.NaN;
  };
  return { samples: total, p50: at(0.5), p99: at(0.99), over2s: merged[SECOND_BUCKETS - 1] };
}

/** Delivered / expected of the messages acknowledged ok and sent within each phase. */
function deliveryByPhase({ options, reports, members, phases }) {
  const received = new Map();
  for (const report of reports)
    for (const [key, n] of report.received) received.set(key, (received.get(key) ?? 0) + n);
  const result = Object.fromEntries(PHASES.map((phase) => [phase, { acked: 0, expected: 0, delivered: 0 }]));
  for (const report of reports)
    report.ackedInWindow.forEach((key, i) => {
      const sentAt = report.ackedSentAt[i];
      const phase = PHASES.find((name) => sentAt >= phases[name][0] && sentAt < phases[name][1]);
      if (!phase) return;
      const roomSize = members[Number(key.slice(0, key.indexOf(':'))) % options.conversations] ?? 0;
      const figures = result[phase];
      figures.acked++;
      figures.expected += roomSize;
      figures.delivered += Math.min(received.get(key) ?? 0, roomSize);
    });
  return result;
}

/** Polls of one target within [from, to): count, failures, max and p99 latency, the first failure. */
function livenessOf(polls, target, [from, to]) {
  const mine = polls.filter((poll) => poll.target === target && poll.t >= from && poll.t < to);
  const failed = mine.filter((poll) => !poll.ok);
  const ms = Float64Array.from(mine.filter((poll) => poll.ok).map((poll) => poll.ms)).sort();
  return {
    polls: mine.length,
    failures: failed.length,
    maxMs: Math.max(...mine.map((poll) => (poll.ok ? poll.ms : 2_000))),
    p99Ms: percentile(ms, 99),
    firstFailure: failed[0]?.error,
  };
}

export function summarizeHostile({
  options,
  reports,
  members,
  phases,
  windowStart,
  monitor,
  primaryPid,
  attackers,
  connectFailures,
}) {
  const delivery = deliveryByPhase({ options, reports, members, phases });
  for (const phase of PHASES) {
    const [from, to] = phases[phase].map((t) => Math.round((t - windowStart) / 1_000));
    Object.assign(delivery[phase], histogramFigures(reports, from, to));
    delivery[phase].ratio =
      delivery[phase].expected > 0 ? delivery[phase].delivered / delivery[phase].expected : Number.NaN;
  }
  const whole = [phases.warmup[0], phases.after[1] + options.drain * 1_000 + 1];
  const liveness = {};
  for (const target of ['port', 'probe']) {
    if (!monitor.polls.some((poll) => poll.target === target)) continue;
    liveness[target] = { whole: livenessOf(monitor.polls, target, whole) };
    for (const phase of ['warmup', ...PHASES])
      liveness[target][phase] = livenessOf(monitor.polls, target, phases[phase]);
  }
  // Server processes at five moments; the attack's peak is the highest sample within it.
  const { samples } = monitor;
  const last = (t) => samples.filter((sample) => sample.t <= t).at(-1) ?? samples[0];
  const inAttack = samples.filter((sample) => sample.t >= phases.attack[0] && sample.t < phases.attack[1]);
  const totalRss = (sample) => Object.values(sample.rss).reduce((a, b) => a + b, 0);
  const moments = {
    'baseline start': last(phases.baseline[0]),
    'attack start': last(phases.attack[0]),
    'attack peak (fds)': inAttack.reduce((max, s) => (s.fds > max.fds ? s : max), inAttack[0] ?? samples[0]),
    'attack peak (RSS)': inAttack.reduce(
      (max, s) => (totalRss(s) > totalRss(max) ? s : max),
      inAttack[0] ?? samples[0],
    ),
    'attack end': last(phases.attack[1]),
    [`after end (+${options.after} s)`]: last(phases.after[1]),
  };
  const pids = [...new Set(samples.flatMap((sample) => Object.keys(sample.rss).map(Number)))];
  // CPU cores of a process over a phase: its CPU time between the samples closest to the phase's ends.
  const coresIn = (pid, [from, to]) =>
    (last(to).cpu[pid] - last(from).cpu[pid]) / ((last(to).t - last(from).t) / 1_000);
  const processes = pids.map((pid) => ({
    pid,
    cores: Object.fromEntries(PHASES.map((phase) => [phase, coresIn(pid, phases[phase])])),
    role: pid === primaryPid ? 'primary' : 'worker',
    rssKiB: Object.fromEntries(Object.entries(moments).map(([name, s]) => [name, s.rss[pid] ?? Number.NaN])),
    peakRssKiB: Math.max(...inAttack.map((s) => s.rss[pid] ?? 0)),
  }));
  const processSummary = {
    fds: Object.fromEntries(Object.entries(moments).map(([name, s]) => [name, s.fds])),
    totalRssKiB: Object.fromEntries(Object.entries(moments).map(([name, s]) => [name, totalRss(s)])),
    processes,
    // Every 5 s from the baseline's start: the primary's descriptors and the total RSS.
    timeline: samples
      .filter((sample, i) => sample.t >= phases.baseline[0] - 1_000 && i % 5 === 0)
      .map((sample) => ({
        s: Math.round((sample.t - phases.attack[0]) / 1_000),
        fds: sample.fds,
        rssKiB: totalRss(sample),
      })),
  };
  const sum = (pick) => reports.reduce((total, report) => total + pick(report), 0);
  return {
    scenario: 'hostile',
    clients: options.clients,
    connected: sum((report) => report.connectMs.length),
    connectFailures,
    joined: Object.values(members).reduce((a, b) => a + b, 0),
    phases,
    delivery,
    p99Ratio: delivery.attack.p99 / delivery.baseline.p99,
    // Delivery p99 of each 5 s of sending, from the baseline's start: when the attack bites, and how long.
    p99Every5s: Array.from({ length: Math.ceil((phases.after[1] - windowStart) / 5_000) }, (_, i) => ({
      s: Math.round((windowStart - phases.attack[0]) / 1_000) + 5 * i,
      p99: histogramFigures(reports, 5 * i, 5 * i + 5).p99,
    })),
    liveness,
    processes: processSummary,
    attackers: attackers.map((stats) => ({
      ...stats,
      lifetimesMs: undefined,
      lifetimeMs: lifetimes(stats.lifetimesMs),
    })),
    normal: {
      ackFailures: mergeCounts(reports.map((report) => report.ackFailures)),
      disconnects: mergeCounts(reports.map((report) => report.disconnects)),
      otherEvents: mergeCounts(reports.map((report) => report.otherEvents)),
      connectedAtEnd: sum((report) => report.connectedAtEnd),
      skipped: sum((report) => report.skipped),
      loadGenLoopDelayP99Ms: reports.map((report) => report.loopDelay?.p99 ?? Number.NaN),
    },
  };
}

function lifetimes(list) {
  if (!list || list.length === 0) return undefined;
  const sorted = Float64Array.from(list).sort();
  return { n: sorted.length, p50: percentile(sorted, 50), max: sorted.at(-1) };
}

const counts = (object) =>
  Object.entries(object ?? {})
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([key, n]) => `${key} ${n}`)
    .join(', ') || 'none';

function describeAttacker(a) {
  if (a.failed) return `${a.kind}: FAILED (${a.failed})`;
  const seconds = a.seconds || Number.NaN;
  const head = `${a.kind} (${a.user}, ${fmt(a.cpu ? (a.cpu.user + a.cpu.system) / 1e6 / seconds : Number.NaN, 2)} cores)`;
  const received = `${fmt(a.bytesReceived / 1e6)} MB received`;
  const errors = Object.keys(a.errors).length > 0 ? `; errors: ${counts(a.errors)}` : '';
  switch (a.kind) {
    case 'sync':
      return `${head}: ${a.events} syncs (${fmt(a.events / seconds, 0)}/s), acks: ${counts(a.acks)}; ${a.messagesReceived} messages in ${a.passes} full passes, ${received}${errors}`;
    case 'typing':
    case 'leave':
      return `${head}: ${a.events} events (${fmt(a.events / seconds, 0)}/s), acks: ${counts(a.acks)}; ${received}${errors}`;
    case 'slow-headers':
      return (
        `${head}: ${a.opened} connections opened, at most ${a.maxHeld} held at once, ${a.held} held at the end; ` +
        `${a.closedByServer} closed by the server (lifetime p50 ${fmt((a.lifetimeMs?.p50 ?? Number.NaN) / 1_000)} s, ` +
        `max ${fmt((a.lifetimeMs?.max ?? Number.NaN) / 1_000)} s); answers: ${counts(a.responses)}; ${received}${errors}`
      );
    case 'handshake':
      return (
        `${head}: ${a.events} polling handshakes (${fmt(a.events / seconds, 0)}/s), answers: ${counts(a.acks)}; ` +
        `/chat sockets of one user: at most ${a.chat.heldAtStop} held at the end, refused: ${counts(a.chat.refused)}; ${received}${errors}`
      );
    default:
      return `${head}: ${a.events} events`;
  }
}

export function printHostile(r, command) {
  console.log(`\nHostile clients (ours; the command: ${command})\n`);
  console.log(
    `normal clients: ${r.connected}/${r.clients} connected, ${r.joined} joined; connect failures: ${counts(r.connectFailures)}`,
  );
  console.log('delivery to the normal clients, by the second each message was sent in:');
  printAlignedTable(
    ['phase', 'acked sends', 'delivered / expected', 'p50 (ms)', 'p99 (ms)', '>= 2 s'],
    PHASES.map((phase) => {
      const d = r.delivery[phase];
      return [
        phase,
        String(d.acked),
        `${d.delivered}/${d.expected} (${fmt(d.ratio * 100, 2)}%)`,
        fmt(d.p50),
        fmt(d.p99),
        String(d.over2s),
      ];
    }),
  );
  console.log(
    'delivery p99 (ms) of each 5 s of sending, s from the attack start: ' +
      r.p99Every5s
        .map((block) => `${block.s}: ${block.p99 > 2_000 ? '>2000' : fmt(block.p99, 0)}`)
        .join(' | '),
  );
  const live = (target) => r.liveness[target]?.whole;
  const fds = Object.values(r.processes.fds);
  const rss = Object.values(r.processes.totalRssKiB);
  const line = (met, text) => console.log(`  [${met ? 'met' : 'MISSED'}] ${text}`);
  console.log('\nGoals:');
  line(
    r.delivery.attack.ratio === 1,
    `100% delivered during the attack: ${fmt(r.delivery.attack.ratio * 100, 2)}%`,
  );
  line(
    r.p99Ratio <= 1.5,
    `attack p99 <= 1.5x baseline: ${fmt(r.p99Ratio, 2)}x (${fmt(r.delivery.attack.p99)} vs ${fmt(r.delivery.baseline.p99)} ms)`,
  );
  const probe = r.liveness.probe;
  // A service that does not serve PROBE_PORT yet refuses every poll there from the start.
  const probeServed =
    probe && !(probe.whole.failures === probe.whole.polls && /ECONNREFUSED/.test(probe.whole.firstFailure));
  if (probe && !probeServed)
    console.log('  (PROBE_PORT: every poll refused from the start: this build does not serve it)');
  for (const target of Object.keys(r.liveness).filter((t) => t === 'port' || probeServed))
    line(
      live(target).failures === 0,
      `liveness on ${target === 'port' ? 'PORT' : 'PROBE_PORT'} answered throughout: ${live(target).failures} failed of ${live(target).polls}, max ${fmt(live(target).maxMs)} ms`,
    );
  line(
    fds[5] <= fds[0] * 1.1 + 20,
    `primary descriptors back after the attack: ${fds[0]} at the start, ${fds[2]} at the peak, ${fds[5]} at the end`,
  );
  line(
    rss[5] <= rss[4] * 1.05,
    `no RSS growth after the attack: ${mib(rss[4])} MiB at its end, ${mib(rss[5])} MiB at the end of the after phase`,
  );

  console.log('\nliveness, GET /api/health every second (2 s timeout): polls / failed / p99 / max ms');
  printAlignedTable(
    ['target', ...['warmup', ...PHASES].map((p) => p)],
    Object.entries(r.liveness).map(([target, byPhase]) => [
      target === 'port' ? 'PORT' : 'PROBE_PORT',
      ...['warmup', ...PHASES].map(
        (p) =>
          `${byPhase[p].polls} / ${byPhase[p].failures} / ${fmt(byPhase[p].p99Ms, 0)} / ${fmt(byPhase[p].maxMs, 0)}`,
      ),
    ]),
  );
  for (const [target, byPhase] of Object.entries(r.liveness))
    if (byPhase.whole.firstFailure)
      console.log(`  ${target}: first failure: ${byPhase.whole.firstFailure.slice(0, 160)}`);

  console.log('\nserver processes: descriptors and RSS (MiB)');
  const moments = Object.keys(r.processes.fds);
  printAlignedTable(
    ['', ...moments],
    [
      ['primary descriptors', ...fds.map(String)],
      ['total RSS', ...rss.map(mib)],
      ...r.processes.processes.map((p) => [
        `${p.role} ${p.pid} RSS`,
        ...moments.map((m) => mib(p.rssKiB[m])),
      ]),
    ],
  );
  console.log(
    '  CPU cores (baseline / attack / after): ' +
      r.processes.processes
        .map((p) => `${p.role} ${p.pid} ${PHASES.map((ph) => fmt(p.cores[ph], 2)).join(' / ')}`)
        .join('; '),
  );
  console.log(
    '  every 5 s (s from the attack start: primary fds, total RSS MiB): ' +
      r.processes.timeline.map((point) => `${point.s}: ${point.fds}, ${mib(point.rssKiB)}`).join(' | '),
  );

  console.log('\nattackers:');
  for (const attacker of r.attackers) console.log(`  ${describeAttacker(attacker)}`);
  const n = r.normal;
  console.log('\nnormal clients over the whole run:');
  console.log(
    `  ack failures: ${counts(n.ackFailures)}; disconnects: ${counts(n.disconnects)}; connected at the end: ${n.connectedAtEnd}`,
  );
  console.log(`  other events received: ${counts(n.otherEvents)}; sends skipped (50 unacked): ${n.skipped}`);
  console.log(
    `  load-generator event-loop delay p99 (ms): ${n.loadGenLoopDelayP99Ms.map((ms) => fmt(ms)).join(' / ')}`,
  );
}
