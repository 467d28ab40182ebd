// The `--scenario answers` side of the benchmark that is not process handling (run.mjs keeps that):
// a probe of the bench's own Redis (INFO before and after, and a pattern subscriber that weighs every
// message published), the figures computed from the load generators' and the fake Ollama's records,
// and their table. See docs/benchmarks.md, "Answers".
import { Redis } from 'ioredis';
import { mergeCounts, percentile, printAlignedTable } from './lib.mjs';

// ------------------------------------------------------------------------------------------ redis probe

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** `INFO stats` + `INFO commandstats` as numbers: totals, and calls per command. */
function parseInfo(text) {
  const field = (name) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  const calls = {};
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1]] = Number(match[2]);
  return {
    inputBytes: field('total_net_input_bytes'),
    outputBytes: field('total_net_output_bytes'),
    commands: field('total_commands_processed'),
    calls,
  };
}

/**
 * Two connections to the bench's redis-server: one for INFO, one PSUBSCRIBEd to `pattern` that adds
 * up the channel and payload bytes of every message published (no MONITOR, which would cost Redis far
 * more than the traffic it shows). The subscriber is one more receiver of each message: it adds to
 * Redis's output bytes, not to its input bytes.
 */
export class RedisProbe {
  static async open(port, pattern) {
    const options = {
      host: '127.0.0.1',
      port,
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      connectTimeout: 5_000,
    };
    const probe = new RedisProbe(new Redis({ ...options, connectionName: 'bench-probe' }), pattern);
    probe.subscriber = new Redis({ ...options, connectionName: 'bench-probe-subscriber' });
    await Promise.all([probe.client.connect(), probe.subscriber.connect()]);
    probe.subscriber.on('pmessageBuffer', (_pattern, channel, message) => probe.count(channel, message));
    await probe.subscriber.psubscribe(pattern);
    return probe;
  }

  constructor(client, pattern) {
    this.client = client;
    this.pattern = pattern;
    this.published = { messages: 0, payloadBytes: 0, channelBytes: 0, byChannel: {} };
  }

  count(channel, message) {
    const published = this.published;
    published.messages++;
    published.payloadBytes += message.length;
    published.channelBytes += channel.length;
    // One line per kind of channel: conversation ids folded into <id>.
    const kind = channel.toString('latin1').replace(UUID, '<id>');
    const entry = (published.byChannel[kind] ??= { messages: 0, bytes: 0 });
    entry.messages++;
    entry.bytes += message.length + channel.length;
  }

  /** Redis's counters and what the subscriber has weighed so far. */
  async snapshot() {
    const info = parseInfo(`${await this.client.info('stats')}\n${await this.client.info('commandstats')}`);
    const published = JSON.parse(JSON.stringify(this.published));
    return { ...info, published };
  }

  async close() {
    await Promise.allSettled([this.subscriber.quit(), this.client.quit()]);
    this.subscriber.disconnect();
    this.client.disconnect();
  }
}

/** What happened in Redis between two snapshots. */
export function redisDelta(before, after) {
  const calls = {};
  for (const [name, n] of Object.entries(after.calls)) {
    const delta = n - (before.calls[name] ?? 0);
    if (delta > 0) calls[name] = delta;
  }
  const byChannel = {};
  for (const [kind, entry] of Object.entries(after.published.byChannel)) {
    const earlier = before.published.byChannel[kind] ?? { messages: 0, bytes: 0 };
    if (entry.messages > earlier.messages)
      byChannel[kind] = { messages: entry.messages - earlier.messages, bytes: entry.bytes - earlier.bytes };
  }
  return {
    inputBytes: after.inputBytes - before.inputBytes,
    outputBytes: after.outputBytes - before.outputBytes,
    commands: after.commands - before.commands,
    calls,
    published: {
      messages: after.published.messages - before.published.messages,
      payloadBytes: after.published.payloadBytes - before.published.payloadBytes,
      channelBytes: after.published.channelBytes - before.published.channelBytes,
      byChannel,
    },
  };
}

// -------------------------------------------------------------------------------------------- figures

const sorted = (values) => Float64Array.from(values.filter((value) => Number.isFinite(value))).sort();

function distribution(values) {
  const all = sorted(values);
  return {
    samples: all.length,
    p50: percentile(all, 50),
    p90: percentile(all, 90),
    p99: percentile(all, 99),
    max: all.length > 0 ? all[all.length - 1] : Number.NaN,
  };
}

/**
 * Figures of one answers run. `reports`: the load generators' stats (each with `answers`); `fake`:
 * the fake Ollama's /bench/stats; `startAt`: the wall-clock moment the questions were sent.
 */
export function summarizeAnswers({ options, reports, fake, startAt, redis, idle, cpu, ...rest }) {
  const questions = reports.flatMap((report) => report.answers?.questions ?? []);
  const deliveries = {};
  for (const report of reports) {
    for (const [key, value] of Object.entries(report.answers?.deliveries ?? {})) {
      if (typeof value === 'number') deliveries[key] = (deliveries[key] ?? 0) + value;
    }
  }
  deliveries.errors = mergeCounts(reports.map((report) => report.answers?.deliveries.errors ?? {}));

  // The fake's records of this run (it serves every round), by the question's tag.
  const requests = fake.records.filter((record) => record.receivedAt >= startAt - 1_000);
  const byTag = new Map();
  let untagged = 0;
  for (const record of requests) {
    if (!record.tag) untagged++;
    else if (!byTag.has(record.tag)) byTag.set(record.tag, record);
    else byTag.get(record.tag).repeats = (byTag.get(record.tag).repeats ?? 0) + 1;
  }
  const repeated = [...byTag.values()].reduce((total, record) => total + (record.repeats ?? 0), 0);

  const outcomes = {};
  const clientTtft = [];
  const fakeTtft = [];
  const added = [];
  const beforeOllama = [];
  const afterFirstToken = [];
  const ack = [];
  const announced = [];
  const whole = [];
  const streaming = [];
  const deltaGaps = [];
  const perAnswerRate = [];
  const fakeStream = [];
  let acked = 0;
  let firstSend = Infinity;
  let lastDone = -Infinity;
  for (const question of questions) {
    firstSend = Math.min(firstSend, question.sentAt);
    if (question.ackCode)
      outcomes[`ack ${question.ackCode}`] = (outcomes[`ack ${question.ackCode}`] ?? 0) + 1;
    else acked++;
    let outcome;
    if (question.doneAt !== undefined) outcome = 'message:done';
    else if (question.errorCode) outcome = `message:error ${question.errorCode}`;
    else if (question.timedOut) outcome = `no end within ${options.answerTimeout} s`;
    if (outcome) outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    if (question.doneAt !== undefined) {
      lastDone = Math.max(lastDone, question.doneAt);
      whole.push(question.doneAt - question.sentAt);
      if (question.firstDeltaAt !== undefined) streaming.push(question.doneAt - question.firstDeltaAt);
      for (const gap of question.deltaGaps ?? []) deltaGaps.push(gap);
      if (question.deltas > 1 && question.lastDeltaAt > question.firstDeltaAt)
        perAnswerRate.push((question.deltas - 1) / ((question.lastDeltaAt - question.firstDeltaAt) / 1_000));
    }
    if (question.ackAt !== undefined && !question.ackCode) ack.push(question.ackAt - question.sentAt);
    if (question.newAt !== undefined) announced.push(question.newAt - question.sentAt);
    if (question.firstDeltaAt === undefined) continue;
    const ttft = question.firstDeltaAt - question.sentAt;
    clientTtft.push(ttft);
    const record = byTag.get(`${question.client}:${question.n}`);
    if (record?.firstTokenAt === undefined) continue;
    const own = record.firstTokenAt - record.receivedAt;
    added.push(ttft - own);
    beforeOllama.push(record.receivedAt - question.sentAt);
    afterFirstToken.push(question.firstDeltaAt - record.firstTokenAt);
  }
  for (const record of requests) {
    if (record.firstTokenAt !== undefined) fakeTtft.push(record.firstTokenAt - record.receivedAt);
    if (record.endAt !== undefined) fakeStream.push(record.endAt - record.firstTokenAt);
  }
  const deltas = reports.reduce((total, report) => total + report.deltas, 0);
  const windowSeconds = lastDone > firstSend ? (lastDone - firstSend) / 1_000 : Number.NaN;
  const per = (n) => (acked > 0 ? n / acked : Number.NaN);
  const topCalls = Object.entries(redis.calls)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([name, n]) => [name, per(n)]);
  return {
    scenario: 'answers',
    ...rest,
    conversations: options.conversations,
    members: options.members,
    questions: questions.length,
    acked,
    outcomes,
    deliveries,
    questionErrors: mergeCounts(reports.map((report) => report.answers?.questionErrors ?? {})),
    ollama: { requests: requests.length, untagged, repeated, tokensPerAnswer: fake.tokens },
    deltas,
    windowSeconds,
    tokensPerSecond: deltas / windowSeconds,
    ms: {
      clientTtft: distribution(clientTtft),
      fakeTtft: distribution(fakeTtft),
      added: distribution(added),
      beforeOllama: distribution(beforeOllama),
      afterFirstToken: distribution(afterFirstToken),
      ack: distribution(ack),
      announced: distribution(announced),
      whole: distribution(whole),
      streaming: distribution(streaming),
      deltaGaps: distribution(deltaGaps),
      fakeStream: distribution(fakeStream),
    },
    perAnswerTokensPerSecond: distribution(perAnswerRate),
    redis: {
      ...redis,
      inputBytesPerAnswer: per(redis.inputBytes),
      outputBytesPerAnswer: per(redis.outputBytes),
      commandsPerAnswer: per(redis.commands),
      publishedPerAnswer: per(redis.published.payloadBytes + redis.published.channelBytes),
      publishedMessagesPerAnswer: per(redis.published.messages),
      topCallsPerAnswer: topCalls,
      idleInputBytesPerSecond: idle.inputBytesPerSecond,
    },
    cpuCores: cpu,
    disconnects: mergeCounts(reports.map((report) => report.disconnects)),
    otherEvents: mergeCounts(reports.map((report) => report.otherEvents)),
    misrouted: reports.reduce((total, report) => total + report.misrouted, 0),
    connectedAtEnd: reports.reduce((total, report) => total + report.connectedAtEnd, 0),
    loadGenerators: reports.map((report) => ({
      cpuCores: report.cpu ? (report.cpu.user + report.cpu.system) / 1e6 / windowSeconds : Number.NaN,
      loopDelayP99Ms: report.loopDelay?.p99 ?? Number.NaN,
    })),
  };
}

// --------------------------------------------------------------------------------------------- report

const fmt = (value, digits = 1) =>
  value === undefined || !Number.isFinite(value)
    ? 'n/a'
    : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ms = (d) => `${fmt(d.p50)} / ${fmt(d.p99)}`;
const count = (counts) => Object.values(counts).reduce((total, n) => total + n, 0);
const outcome = (r) =>
  Object.entries(r.outcomes)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ${n}`)
    .join(', ') || 'none';

/** [label, value(result)]: one column per round. */
const ROWS = [
  ['clients connected / joined', (r) => `${r.connected}/${r.clients} / ${r.joined}`],
  ['conversations (members each)', (r) => `${r.conversationsCreated} (${r.members})`],
  ['questions sent / acked', (r) => `${r.questions} / ${r.acked}`],
  ['how the answers ended', outcome],
  [
    'answers complete at every member',
    (r) =>
      `${r.deliveries.complete ?? 0}/${r.deliveries.total ?? 0}` +
      (r.deliveries.total ? ` (${fmt((100 * r.deliveries.complete) / r.deliveries.total, 2)}%)` : ''),
  ],
  ['deltas joined != done content', (r) => String(r.deliveries.deltasDifferFromDone ?? 0)],
  ["done content != fake's answer", (r) => String(r.deliveries.doneDiffersFromFake ?? 0)],
  [
    'gaps / duplicates / out of order',
    (r) =>
      `${r.deliveries.withGaps ?? 0} / ${r.deliveries.withDuplicates ?? 0} / ${r.deliveries.outOfOrder ?? 0}`,
  ],
  [
    'message:error received, by code',
    (r) =>
      Object.entries({ ...r.deliveries.errors, ...r.questionErrors })
        .map(([c, n]) => `${c} ${n}`)
        .join(', ') || '0',
  ],
  ['Ollama requests (repeats)', (r) => `${r.ollama.requests} (${r.ollama.repeated})`],
  ['message:delta received', (r) => String(r.deltas)],
  ['window: first send to last done (s)', (r) => fmt(r.windowSeconds, 2)],
  ['deltas delivered per second', (r) => fmt(r.tokensPerSecond, 0)],
  [
    'per-answer stream rate p50/p99 (deltas/s)',
    (r) => `${fmt(r.perAnswerTokensPerSecond.p50, 0)} / ${fmt(r.perAnswerTokensPerSecond.p99, 0)}`,
  ],
  ['TTFT at the client p50/p99 (ms)', (r) => ms(r.ms.clientTtft)],
  ["fake Ollama's own TTFT p50/p99 (ms)", (r) => ms(r.ms.fakeTtft)],
  ['TTFT added by the service p50/p99 (ms)', (r) => ms(r.ms.added)],
  ['  of which: send -> Ollama request (ms)', (r) => ms(r.ms.beforeOllama)],
  ['  of which: Ollama token -> client (ms)', (r) => ms(r.ms.afterFirstToken)],
  ['message:send ack p50/p99 (ms)', (r) => ms(r.ms.ack)],
  ['assistant message:new p50/p99 (ms)', (r) => ms(r.ms.announced)],
  ['send -> message:done p50/p99 (ms)', (r) => ms(r.ms.whole)],
  ['first delta -> done p50/p99 (ms)', (r) => ms(r.ms.streaming)],
  ['delta -> next delta p50/p99 (ms)', (r) => (r.ms.deltaGaps ? ms(r.ms.deltaGaps) : 'n/a')],
  ["fake's whole answer written p50/p99 (ms)", (r) => ms(r.ms.fakeStream)],
  ['Redis input bytes per answer', (r) => fmt(r.redis.inputBytesPerAnswer, 0)],
  ['Redis published bytes per answer', (r) => fmt(r.redis.publishedPerAnswer, 0)],
  ['Redis messages published per answer', (r) => fmt(r.redis.publishedMessagesPerAnswer, 1)],
  ['Redis commands per answer', (r) => fmt(r.redis.commandsPerAnswer, 1)],
  ['Redis output bytes per answer', (r) => fmt(r.redis.outputBytesPerAnswer, 0)],
  ['Redis idle input (bytes/s, before)', (r) => fmt(r.redis.idleInputBytesPerSecond, 0)],
  [
    'server / redis / fake CPU (cores)',
    (r) => `${fmt(r.cpuCores.server, 2)} / ${fmt(r.cpuCores.redis, 2)} / ${fmt(r.cpuCores.fake, 2)}`,
  ],
  ['disconnects during the run', (r) => String(count(r.disconnects))],
  ['server stop on SIGTERM: exit, s', (r) => `${r.server.exit}, ${fmt(r.server.stopMs / 1_000)}`],
  ['machine load average, start / end', (r) => `${fmt(r.load.start, 2)} / ${fmt(r.load.end, 2)}`],
  ['load-gen CPU (cores, per process)', (r) => r.loadGenerators.map((g) => fmt(g.cpuCores, 2)).join(' / ')],
  [
    'load-gen event-loop delay p99 (ms)',
    (r) => r.loadGenerators.map((g) => fmt(g.loopDelayP99Ms)).join(' / '),
  ],
];

/** The table (one column per result, titled by `titles` or by round), then the details of each. */
export function printAnswers(
  rounds,
  titles = rounds.map((_, i) => (rounds.length > 1 ? `round ${i + 1}` : 'ours')),
) {
  const header = ['metric (ours; the reference has no answers)', ...titles];
  const lines = ROWS.map(([label, show]) => [label, ...rounds.map((r) => (r.failed ? 'failed' : show(r)))]);
  printAlignedTable(header, lines);

  rounds.forEach((r, i) => {
    const lines = [];
    if (r.failed) lines.push(`failed: ${r.failed}`);
    else {
      if (r.server.readiness) lines.push(r.server.readiness);
      if (r.server.leftovers) lines.push(`after SIGTERM: ${r.server.leftovers}`);
      lines.push(
        `Redis, per answer (calls): ${r.redis.topCallsPerAnswer.map(([name, n]) => `${name} ${fmt(n, 1)}`).join(', ')}`,
      );
      const kinds = Object.entries(r.redis.published.byChannel).sort((a, b) => b[1].bytes - a[1].bytes);
      for (const [kind, entry] of kinds.slice(0, 6))
        lines.push(`published on ${kind}: ${entry.messages} messages, ${fmt(entry.bytes / 1024)} KiB`);
      for (const [title, counts] of [
        ['connect failures', r.connectFailures],
        ['create failures', r.createFailures],
        ['join failures', r.joinFailures],
        ['disconnect reasons', r.disconnects],
        ['other events', r.otherEvents],
      ]) {
        const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
        if (entries.length === 0) continue;
        lines.push(`${title}:`);
        for (const [message, n] of entries.slice(0, 20)) lines.push(`  ${String(n).padStart(7)}  ${message}`);
      }
      if (r.ollama.untagged > 0) lines.push(`note: ${r.ollama.untagged} Ollama requests without a bench tag`);
      if (r.misrouted > 0) lines.push(`note: ${r.misrouted} events for another conversation`);
      if (r.deliveries.unfinished > 0)
        lines.push(
          `note: ${r.deliveries.unfinished} answers seen by a member that neither finished nor failed`,
        );
      if (r.connectedAtEnd < r.connected)
        lines.push(`note: ${r.connected - r.connectedAtEnd} clients no longer connected at the end`);
    }
    console.log(`\n${titles[i]}:`);
    for (const line of lines) console.log(`  ${line}`);
  });
}
