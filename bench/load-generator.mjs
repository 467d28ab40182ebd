// One load-generator process, forked by run.mjs: it owns a slice of the benchmark's clients (one
// socket.io-client each, each its own user) and answers run.mjs's phase commands over IPC:
//   init -> connected, create -> created, join -> joined, load -> (sends until the window ends),
//   report -> report, close -> exits.
// The capacity scenario gives `load` a schedule of rates (one per step), asks `step -> step` for each
// step's figures once it has drained, and `stop-load` ends the sending early.
// With `scenario: 'answers'` the load is `ask -> asked` instead: each conversation's creator sends its
// questions one after the other (the next once the previous answer ended) and every member records the
// assistant's message:new / message:delta / message:done / message:error (`answerReport`).
// Clients are split over several such processes because 500 sockets receiving 10,000 events a second
// saturate one Node.js core, and a saturated load generator would measure itself, not the server.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { clearTimeout, setTimeout } from 'node:timers';
import jwt from 'jsonwebtoken';
import { io } from 'socket.io-client';
import { answerTokens, bump, SECOND_BUCKET_MS, SECOND_BUCKETS, wallNow } from './lib.mjs';

/** Connections (and joins) in flight at once per process: a ramp, not a stampede. */
const CONNECT_CONCURRENCY = 50;
/** Sends a client may have unacknowledged before it skips a beat (an open loop, but bounded). */
const MAX_OUTSTANDING = 50;
/** Latency samples kept per process; beyond it a reservoir keeps a uniform sample. */
const MAX_SAMPLES = 2_000_000;
/** `bench <client> <seq> <sent wall-clock ms>` */
const CONTENT = /^bench (\d+) (\d+) (\d+(?:\.\d+)?)$/;

let options;
const clients = [];
let closing = false;
let measureWindow = { start: Infinity, end: -Infinity };
/** The send rate's phases, `{ from, intervalMs }` ascending by `from`: one, unless `load` gives a schedule. */
let ratePhases = [];

const stats = {
  connectMs: [],
  connectFailures: {},
  createFailures: {},
  joinFailures: {},
  sent: 0,
  sentInWindow: 0,
  skipped: 0,
  acked: 0,
  ackFailures: {},
  ackMs: [],
  ackedInWindow: [], // `${client}:${seq}` of messages sent in the window and acknowledged ok
  ackedSentAt: [], // when each of ackedInWindow was sent (wall-clock ms)
  failedSends: [], // [sent wall-clock ms, code] of each send whose ack was not ok
  sentBySecond: new Map(), // second of sending, counted like bySecond -> sends
  received: new Map(), // `${client}:${seq}` -> how many sockets got message:new for it
  latencies: new Float64Array(1024),
  latencyCount: 0,
  latencySeen: 0,
  // Second a message was sent in, counted from the window's start (warm-up seconds negative) -> histogram
  // of its delivery latencies.
  bySecond: new Map(),
  receivedInWindow: 0,
  misrouted: 0,
  deltas: 0, // message:delta received (answers scenario)
  disconnects: {},
  otherEvents: {},
  transports: {},
  cpu: undefined,
  loopDelay: undefined,
};

/** The second `at` falls in, counted from the window's start (warm-up seconds negative). */
const secondOf = (at) => Math.floor((at - measureWindow.start) / 1_000);

/** Counts a delivery in the histogram of the second its message was sent in. */
function addToSecond(sentAt, ms) {
  const second = secondOf(sentAt);
  let histogram = stats.bySecond.get(second);
  if (!histogram) stats.bySecond.set(second, (histogram = new Uint32Array(SECOND_BUCKETS)));
  // Clamped at 0: send and receive stamps come from two processes' clocks, rounded to the microsecond.
  histogram[Math.min(SECOND_BUCKETS - 1, Math.max(0, Math.floor(ms / SECOND_BUCKET_MS)))]++;
}

function addLatency(ms) {
  stats.latencySeen++;
  if (stats.latencyCount < MAX_SAMPLES) {
    if (stats.latencyCount === stats.latencies.length) {
      const grown = new Float64Array(Math.min(MAX_SAMPLES, stats.latencies.length * 2));
      grown.set(stats.latencies);
      stats.latencies = grown;
    }
    stats.latencies[stats.latencyCount++] = ms;
    return;
  }
  const slot = Math.floor(Math.random() * stats.latencySeen);
  if (slot < MAX_SAMPLES) stats.latencies[slot] = ms;
}

/** The connect_error's message, with its status or cause when the transport gives one. */
function describe(error) {
  const detail = error?.description;
  let suffix = '';
  if (typeof detail === 'number' || typeof detail === 'string') suffix = ` (${detail})`;
  else if (detail?.message) suffix = ` (${detail.message})`;
  return `${error?.message ?? String(error)}${suffix}`;
}

/** Runs `task` over `items` with at most `limit` in flight. */
async function pool(items, limit, task) {
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await task(items[next++]);
  });
  await Promise.all(runners);
}

function connect(client) {
  return new Promise((resolve) => {
    const token = jwt.sign(
      { sub: `bench-user-${client.index}`, name: `User ${client.index}` },
      options.jwtSecret,
      {
        algorithm: 'HS256',
        expiresIn: '1h',
      },
    );
    const started = wallNow();
    const socket = io(`${options.url}/chat`, {
      auth: { token },
      transports: options.transports === 'websocket' ? ['websocket'] : ['polling', 'websocket'],
      forceNew: true, // one Engine.IO connection per client, never a shared multiplexed one
      reconnection: false, // a drop is a finding, not something to paper over
      timeout: options.connectTimeoutMs,
    });
    client.socket = socket;
    // The client's own `timeout` covers only the Engine.IO handshake: a namespace CONNECT that is never
    // answered would leave it waiting forever, so the bench bounds the whole connect itself.
    const deadline = setTimeout(() => {
      const engine = socket.io.engine;
      const state =
        engine?.readyState === 'open' ? `engine open on ${engine.transport?.name}` : 'engine not open';
      bump(stats.connectFailures, `no connect within ${options.connectTimeoutMs / 1_000} s (${state})`);
      socket.close();
      resolve();
    }, options.connectTimeoutMs + 1_000);
    socket.once('connect', () => {
      clearTimeout(deadline);
      stats.connectMs.push(wallNow() - started);
      client.connected = true;
      socket.on('disconnect', (reason, detail) => {
        client.connected = false;
        if (!closing) bump(stats.disconnects, detail?.message ? `${reason}: ${detail.message}` : reason);
      });
      if (options.scenario === 'answers') listenForAnswers(client);
      else {
        socket.on('message:new', (message) => onMessage(client, message));
        socket.onAny((event) => {
          if (event !== 'message:new') bump(stats.otherEvents, event);
        });
      }
      resolve();
    });
    socket.once('connect_error', (error) => {
      clearTimeout(deadline);
      bump(stats.connectFailures, describe(error));
      socket.close();
      resolve();
    });
  });
}

function onMessage(client, message) {
  const receivedAt = wallNow();
  const match = typeof message?.content === 'string' ? CONTENT.exec(message.content) : null;
  if (!match || message.role !== 'user') {
    bump(stats.otherEvents, `message:new (${message?.role ?? 'no role'}, not a bench message)`);
    return;
  }
  if (message.conversationId !== client.conversationId) stats.misrouted++;
  if (receivedAt >= measureWindow.start && receivedAt < measureWindow.end) stats.receivedInWindow++;
  const sentAt = Number(match[3]);
  addToSecond(sentAt, receivedAt - sentAt);
  // Capacity (`stepped`) counts each step from the histograms: no record per message kept for minutes.
  if (options.stepped || sentAt < measureWindow.start || sentAt >= measureWindow.end) return;
  const key = `${match[1]}:${match[2]}`;
  stats.received.set(key, (stats.received.get(key) ?? 0) + 1);
  addLatency(receivedAt - sentAt);
}

/** Emits with an acknowledgement timeout; resolves the ack, or `{ ok: false, error: { code } }`. */
function request(socket, event, payload) {
  return new Promise((resolve) => {
    if (!socket.connected) {
      resolve({ ok: false, error: { code: 'NOT_CONNECTED' } });
      return;
    }
    socket.timeout(options.ackTimeoutMs).emit(event, payload, (error, ack) => {
      if (error) resolve({ ok: false, error: { code: 'ACK_TIMEOUT' } });
      else resolve(ack ?? { ok: false, error: { code: 'EMPTY_ACK' } });
    });
  });
}

const codeOf = (ack) => ack?.error?.code ?? 'NO_CODE';

/** `creators`: the client chosen by run.mjs for each conversation, its first member that connected. */
async function createConversations(creatorIndexes) {
  const created = {};
  const chosen = new Set(creatorIndexes);
  const creators = clients.filter((client) => chosen.has(client.index) && client.connected);
  await pool(creators, CONNECT_CONCURRENCY, async (client) => {
    const memberIds = [];
    for (let i = client.conversation; i < options.totalClients; i += options.conversations)
      memberIds.push(`bench-user-${i}`);
    // Accounts that are not clients of this load (the hostile scenario's attackers) may be members too.
    memberIds.push(...(options.extraMembers?.[client.conversation] ?? []));
    const ack = await request(client.socket, 'conversation:create', {
      title: `bench conversation ${client.conversation}`,
      memberIds,
    });
    if (ack?.ok && typeof ack.conversation?.id === 'string')
      created[client.conversation] = ack.conversation.id;
    else bump(stats.createFailures, codeOf(ack));
  });
  return created;
}

async function joinConversations(ids) {
  const joined = {};
  await pool(
    clients.filter((client) => client.connected),
    CONNECT_CONCURRENCY,
    async (client) => {
      const id = ids[client.conversation];
      if (id === undefined) {
        bump(stats.joinFailures, 'NO_CONVERSATION (its create failed)');
        return;
      }
      client.conversationId = id;
      const ack = await request(client.socket, 'conversation:join', { conversationId: id });
      if (ack?.ok) {
        client.joined = true;
        bump(joined, client.conversation);
      } else bump(stats.joinFailures, codeOf(ack));
    },
  );
  return joined;
}

/**
 * The send time that follows one scheduled at `at`. A rate change takes effect at its phase's start:
 * a client keeps its place within the interval (the share of the old interval left past the change is
 * the share of the new one), so the clients' random phases stay spread and the rate changes at once.
 */
function nextSendAt(at) {
  let i = ratePhases.findLastIndex((phase) => phase.from <= at);
  if (i < 0) i = 0;
  let next = at + ratePhases[i].intervalMs;
  while (i + 1 < ratePhases.length && next > ratePhases[i + 1].from) {
    const change = ratePhases[i + 1].from;
    next = change + ((next - change) / ratePhases[i].intervalMs) * ratePhases[i + 1].intervalMs;
    i++;
  }
  return next;
}

function send(client) {
  const sentAt = wallNow();
  if (sentAt >= measureWindow.end || closing) return;
  client.nextAt = nextSendAt(client.nextAt);
  client.timer = setTimeout(() => send(client), Math.max(0, client.nextAt - wallNow()));
  if (client.outstanding >= MAX_OUTSTANDING) {
    stats.skipped++;
    return;
  }
  const seq = ++client.seq;
  const inWindow = sentAt >= measureWindow.start;
  stats.sent++;
  if (inWindow) stats.sentInWindow++;
  const second = secondOf(sentAt);
  stats.sentBySecond.set(second, (stats.sentBySecond.get(second) ?? 0) + 1);
  client.outstanding++;
  request(client.socket, 'message:send', {
    conversationId: client.conversationId,
    content: `bench ${client.index} ${seq} ${sentAt.toFixed(3)}`,
    clientMessageId: `bench-${client.index}-${seq}`,
  }).then((ack) => {
    client.outstanding--;
    if (!ack?.ok) {
      bump(stats.ackFailures, codeOf(ack));
      stats.failedSends.push([sentAt, codeOf(ack)]);
      return;
    }
    stats.acked++;
    if (inWindow) {
      stats.ackedInWindow.push(`${client.index}:${seq}`);
      stats.ackedSentAt.push(sentAt); // same index: the hostile scenario splits the window by send time
      stats.ackMs.push(wallNow() - sentAt);
    }
  });
}

/** How many connected clients are on each transport now. */
function transportCounts() {
  const counts = {};
  for (const client of clients)
    if (client.connected) bump(counts, client.socket.io.engine?.transport?.name ?? 'unknown');
  return counts;
}

/** `schedule` (capacity): `[{ from, intervalMs }]`, the rate of each step from its wall-clock start. */
function startLoad({ startAt, windowStart, windowEnd, schedule }) {
  measureWindow = { start: windowStart, end: windowEnd };
  ratePhases = schedule ?? [{ from: startAt, intervalMs: options.intervalMs }];
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  setTimeout(
    () => {
      stats.cpu = process.cpuUsage();
      stats.transports = transportCounts();
      loopDelay.enable();
    },
    Math.max(0, windowStart - wallNow()),
  );
  setTimeout(
    () => {
      stats.cpu = process.cpuUsage(stats.cpu);
      loopDelay.disable();
      stats.loopDelay = { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
    },
    Math.max(0, windowEnd - wallNow()),
  );
  for (const client of clients) {
    if (!client.joined) continue;
    // A random phase per client spreads the sends evenly over each interval.
    client.nextAt = startAt + Math.random() * ratePhases[0].intervalMs;
    client.timer = setTimeout(() => send(client), Math.max(0, client.nextAt - wallNow()));
  }
}

/** Stops sending now (capacity: the server failed a step); what is in flight is still counted. */
function stopLoad() {
  measureWindow.end = Math.min(measureWindow.end, wallNow());
  for (const client of clients) clearTimeout(client.timer);
}

/** Splits `list` by the second of `sentAtOf(item)`: [those before `toSecond`, the rest]. */
function takeBefore(list, sentAtOf, toSecond) {
  const taken = [];
  const kept = [];
  for (const item of list) (secondOf(sentAtOf(item)) < toSecond ? taken : kept).push(item);
  return [taken, kept];
}

/**
 * One capacity step's figures, for the messages sent in seconds [fromSecond, toSecond) of the window
 * (latencies from measuredFromSecond on: the step's settle time is not measured); then forgets every
 * record of messages sent before toSecond, so memory stays flat however many steps run. Deliveries
 * are this process's receivers' (run.mjs adds the processes up); cumulative counters are returned
 * as they stand, run.mjs takes the differences.
 */
function stepReport({ fromSecond, measuredFromSecond, toSecond }) {
  const inStep = (second) => second >= fromSecond && second < toSecond;
  const acked = stats.ackedSentAt.map((sentAt, i) => ({
    sentAt,
    key: stats.ackedInWindow[i],
    ms: stats.ackMs[i],
  }));
  const [ackedBefore, ackedLater] = takeBefore(acked, (ack) => ack.sentAt, toSecond);
  stats.ackedSentAt = ackedLater.map((ack) => ack.sentAt);
  stats.ackedInWindow = ackedLater.map((ack) => ack.key);
  stats.ackMs = ackedLater.map((ack) => ack.ms);
  const ackedByConversation = {};
  const ackMs = [];
  for (const ack of ackedBefore) {
    const second = secondOf(ack.sentAt);
    if (!inStep(second)) continue;
    bump(ackedByConversation, Number(ack.key.slice(0, ack.key.indexOf(':'))) % options.conversations);
    if (second >= measuredFromSecond) ackMs.push(ack.ms);
  }
  const [failedBefore, failedLater] = takeBefore(stats.failedSends, ([sentAt]) => sentAt, toSecond);
  stats.failedSends = failedLater;
  const ackFailures = {};
  for (const [sentAt, code] of failedBefore) if (inStep(secondOf(sentAt))) bump(ackFailures, code);

  let sent = 0;
  let delivered = 0;
  const histogram = new Uint32Array(SECOND_BUCKETS); // deliveries of the measured seconds
  for (const [second, n] of stats.sentBySecond) {
    if (inStep(second)) sent += n;
    if (second < toSecond) stats.sentBySecond.delete(second);
  }
  for (const [second, counts] of stats.bySecond) {
    if (inStep(second)) for (let i = 0; i < counts.length; i++) delivered += counts[i];
    if (inStep(second) && second >= measuredFromSecond)
      for (let i = 0; i < counts.length; i++) histogram[i] += counts[i];
    if (second < toSecond) stats.bySecond.delete(second);
  }
  return {
    sent,
    acked: Object.values(ackedByConversation).reduce((total, n) => total + n, 0),
    ackedByConversation,
    ackFailures,
    ackMs: Float64Array.from(ackMs),
    delivered,
    histogram,
    skipped: stats.skipped,
    disconnects: Object.values(stats.disconnects).reduce((total, n) => total + n, 0),
    misrouted: stats.misrouted,
  };
}

// ------------------------------------------------------------------------------------------- answers

/** What one client saw of one assistant message (keyed by its id). */
function viewOf(client, messageId) {
  let view = client.answers.get(messageId);
  if (!view) {
    view = { parts: [], deltas: 0, duplicates: 0, outOfOrder: 0 };
    client.answers.set(messageId, view);
  }
  return view;
}

/**
 * Links the answer being awaited to the first assistant message seen in the conversation meanwhile
 * (one question at a time per conversation; called only for a message id seen for the first time).
 */
function link(client, messageId) {
  const pending = client.pending;
  if (pending && pending.answerId === undefined) pending.answerId = messageId;
}

/** Ends the wait for the pending question once its answer (or the error naming it) has arrived. */
function settleIfEnded(client) {
  const pending = client.pending;
  if (!pending) return;
  const view = pending.answerId === undefined ? undefined : client.answers.get(pending.answerId);
  const ended =
    view?.doneAt !== undefined ||
    (pending.answerId !== undefined && client.errors.has(pending.answerId)) ||
    (pending.questionId !== undefined && client.errors.has(pending.questionId));
  if (ended) pending.settle();
}

function listenForAnswers(client) {
  const { socket } = client;
  client.answers = new Map();
  client.errors = new Map(); // messageId -> { code, at }
  client.questionIds = new Set();
  const ours = (payload) => {
    if (payload?.conversationId === client.conversationId) return true;
    stats.misrouted++;
    return false;
  };
  socket.on('message:new', (message) => {
    const at = wallNow();
    if (!ours(message)) return;
    if (message.role !== 'assistant') {
      bump(stats.otherEvents, `message:new (${message.role})`);
      return;
    }
    if (!client.answers.has(message.id)) link(client, message.id);
    viewOf(client, message.id).newAt ??= at;
  });
  socket.on('message:delta', (delta) => {
    const at = wallNow();
    if (!ours(delta)) return;
    stats.deltas++;
    if (!client.answers.has(delta.messageId)) link(client, delta.messageId); // no message:new before it
    const view = viewOf(client, delta.messageId);
    view.firstDeltaAt ??= at;
    // Time between consecutive deltas of one answer, as the client sees its text arrive.
    if (view.lastDeltaAt !== undefined) (view.deltaGaps ??= []).push(at - view.lastDeltaAt);
    view.lastDeltaAt = at;
    view.deltas++;
    if (!Number.isInteger(delta.index) || delta.index < 0 || delta.index > 1_000_000) {
      bump(stats.otherEvents, 'message:delta with an invalid index');
      return;
    }
    if (view.parts[delta.index] !== undefined) view.duplicates++;
    else {
      if (delta.index !== view.parts.length) view.outOfOrder++;
      view.parts[delta.index] = String(delta.delta);
    }
  });
  socket.on('message:done', (done) => {
    const at = wallNow();
    if (!ours(done)) return;
    if (!client.answers.has(done.message?.id)) link(client, done.message?.id);
    const view = viewOf(client, done.message?.id);
    view.doneAt ??= at;
    view.doneContent = done.message?.content;
    view.doneStatus = done.message?.status;
    settleIfEnded(client);
  });
  socket.on('message:error', (failure) => {
    const at = wallNow();
    if (!ours(failure)) return;
    if (!client.errors.has(failure.messageId))
      client.errors.set(failure.messageId, { code: failure.error?.code ?? 'NO_CODE', at });
    settleIfEnded(client);
  });
  socket.onAny((event) => {
    if (!['message:new', 'message:delta', 'message:done', 'message:error'].includes(event))
      bump(stats.otherEvents, event);
  });
}

/** One question, then the wait for its answer: resolves the question's record. */
async function ask(client, n, answerTimeoutMs) {
  const question = { client: client.index, n, sentAt: wallNow() };
  if (!client.connected) return { ...question, ackCode: 'NOT_CONNECTED', endedAt: question.sentAt };
  const ended = new Promise((resolve) => (question.settle = resolve));
  client.pending = question;
  const timer = setTimeout(() => {
    question.timedOut = true;
    question.settle();
  }, answerTimeoutMs);
  request(client.socket, 'message:send', {
    conversationId: client.conversationId,
    // The fake Ollama finds this tag in the last user message of the prompt (fake-ollama.mjs).
    content: `bench-answer ${client.index} ${n} ${question.sentAt.toFixed(3)}`,
    clientMessageId: `bench-answer-${client.index}-${n}`,
  }).then((ack) => {
    question.ackAt = wallNow();
    if (ack?.ok) {
      question.questionId = ack.message?.id;
      client.questionIds.add(question.questionId);
      settleIfEnded(client);
      return;
    }
    question.ackCode = codeOf(ack);
    // Refused: no answer is coming. An ack lost in time may still be followed by its answer.
    if (question.ackCode !== 'ACK_TIMEOUT') question.settle();
  });
  await ended;
  clearTimeout(timer);
  client.pending = undefined;
  question.endedAt = wallNow();
  delete question.settle;
  return question;
}

/**
 * Each conversation's asker sends its questions from `startAt` on, one answer at a time; with
 * `spreadMs`, the askers' first questions are spread evenly over that many ms (by asker index).
 */
async function askAll({ askers, startAt, answers, answerTimeoutMs, spreadMs = 0, firstN = 1 }) {
  const order = new Map(askers.map((index, rank) => [index, rank]));
  const mine = clients.filter((client) => order.has(client.index) && client.joined);
  const wait = startAt - wallNow();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  stats.cpu = process.cpuUsage();
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  await Promise.all(
    mine.map(async (client) => {
      client.questions = [];
      const offset = (order.get(client.index) / askers.length) * spreadMs;
      if (offset > 0) await new Promise((resolve) => setTimeout(resolve, startAt + offset - wallNow()));
      // Numbered on from earlier rounds: a question's clientMessageId must not repeat a warm-up's.
      for (let n = firstN; n < firstN + answers; n++)
        client.questions.push(await ask(client, n, answerTimeoutMs));
    }),
  );
  stats.cpu = process.cpuUsage(stats.cpu);
  loopDelay.disable();
  stats.loopDelay = { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
  return mine.length;
}

/**
 * Per question (askers): its times and how its answer ended. Per answer seen by any member: whether
 * the deltas, in index order, make exactly the content of message:done, and that the fake's answer.
 */
function answerReport() {
  const expected = answerTokens(options.tokens).join('');
  const questions = [];
  const deliveries = {
    total: 0,
    done: 0,
    complete: 0, // done, no gap, deltas == done content == the fake's answer
    deltasDifferFromDone: 0,
    doneDiffersFromFake: 0,
    withGaps: 0,
    withDuplicates: 0,
    outOfOrder: 0,
    errors: {},
    unfinished: 0,
  };
  const questionErrors = {};
  for (const client of clients) {
    if (!client.answers) continue;
    for (const [id, view] of client.answers) {
      deliveries.total++;
      if (view.duplicates > 0) deliveries.withDuplicates++;
      if (view.outOfOrder > 0) deliveries.outOfOrder++;
      let gaps = 0;
      for (let i = 0; i < view.parts.length; i++) if (view.parts[i] === undefined) gaps++;
      view.gaps = gaps;
      if (gaps > 0) deliveries.withGaps++;
      const error = client.errors.get(id);
      if (view.doneAt !== undefined) {
        deliveries.done++;
        const joined = view.parts.join('');
        view.matchesDone = joined === view.doneContent;
        view.matchesFake = view.doneContent === expected;
        if (!view.matchesDone) deliveries.deltasDifferFromDone++;
        if (!view.matchesFake) deliveries.doneDiffersFromFake++;
        if (view.matchesDone && view.matchesFake && gaps === 0) deliveries.complete++;
      } else if (error) bump(deliveries.errors, error.code);
      else deliveries.unfinished++;
    }
    for (const [id, error] of client.errors)
      if (!client.answers.has(id)) bump(questionErrors, `${error.code} (naming the question)`);
    for (const question of client.questions ?? []) {
      const view = question.answerId === undefined ? undefined : client.answers.get(question.answerId);
      const error =
        (question.answerId !== undefined && client.errors.get(question.answerId)) ||
        (question.questionId !== undefined && client.errors.get(question.questionId)) ||
        undefined;
      questions.push({
        client: question.client,
        n: question.n,
        sentAt: question.sentAt,
        ackAt: question.ackAt,
        ackCode: question.ackCode,
        timedOut: question.timedOut === true,
        endedAt: question.endedAt,
        answerId: question.answerId,
        newAt: view?.newAt,
        firstDeltaAt: view?.firstDeltaAt,
        lastDeltaAt: view?.lastDeltaAt,
        deltaGaps: view?.deltaGaps ?? [],
        doneAt: view?.doneAt,
        deltas: view?.deltas ?? 0,
        gaps: view?.gaps ?? 0,
        matchesDone: view?.matchesDone,
        matchesFake: view?.matchesFake,
        errorCode: error?.code,
        errorAt: error?.at,
      });
    }
  }
  return { questions, deliveries, questionErrors };
}

function report() {
  return {
    ...stats,
    latencies: stats.latencies.slice(0, stats.latencyCount),
    answers: options.scenario === 'answers' ? answerReport() : undefined,
    stillOutstanding: clients.reduce((sum, client) => sum + (client.outstanding ?? 0), 0),
    connectedAtEnd: clients.filter((client) => client.connected).length,
    transportsAtEnd: transportCounts(),
  };
}

process.on('message', async (command) => {
  switch (command.type) {
    case 'init': {
      options = command.options;
      for (const index of command.indexes)
        clients.push({ index, conversation: index % options.conversations, seq: 0, outstanding: 0 });
      await pool(clients, CONNECT_CONCURRENCY, connect);
      process.send({
        type: 'connected',
        connected: clients.filter((client) => client.connected).map((client) => client.index),
      });
      break;
    }
    case 'create':
      process.send({ type: 'created', conversations: await createConversations(command.creators) });
      break;
    case 'join':
      process.send({ type: 'joined', members: await joinConversations(command.conversations) });
      break;
    case 'load':
      startLoad(command);
      break;
    case 'stop-load':
      stopLoad();
      break;
    case 'step':
      process.send({ type: 'step', figures: stepReport(command) });
      break;
    case 'ask':
      process.send({ type: 'asked', askers: await askAll(command) });
      break;
    case 'report':
      process.send({ type: 'report', stats: report() });
      break;
    case 'forget-answers':
      // After the warm-up round: what is reported is the measured round only.
      for (const client of clients) {
        client.answers?.clear();
        client.errors?.clear();
        client.questions = [];
      }
      stats.deltas = 0;
      process.send({ type: 'forgot' });
      break;
    case 'close':
      closing = true;
      for (const client of clients) client.socket?.close();
      // A moment for the close packets to leave, then go.
      setTimeout(() => process.exit(0), 300);
      break;
  }
});

// run.mjs is gone (crashed or killed): never linger as an orphan holding sockets open.
process.on('disconnect', () => process.exit(0));
