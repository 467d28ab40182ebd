// One load-generator process, forked by run.mjs: it owns a slice of the benchmark's clients (one
// socket.io-client each, each its own user) and answers run.mjs's phase commands over IPC:
//   init -> connected, create -> created, join -> joined, load -> (sends until the window ends),
//   report -> report, close -> exits.
// Clients are split over several such processes because 500 sockets receiving 10,000 events a second
// saturate one Node.js core, and a saturated load generator would measure itself, not the server.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { clearTimeout, setTimeout } from 'node:timers';
import jwt from 'jsonwebtoken';
import { io } from 'socket.io-client';
import { bump, wallNow } from './lib.mjs';

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
  received: new Map(), // `${client}:${seq}` -> how many sockets got message:new for it
  latencies: new Float64Array(1024),
  latencyCount: 0,
  latencySeen: 0,
  receivedInWindow: 0,
  misrouted: 0,
  disconnects: {},
  otherEvents: {},
  transports: {},
  cpu: undefined,
  loopDelay: undefined,
};

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
      socket.on('message:new', (message) => onMessage(client, message));
      socket.onAny((event) => {
        if (event !== 'message:new') bump(stats.otherEvents, event);
      });
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
  if (sentAt < measureWindow.start || sentAt >= measureWindow.end) return;
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

function send(client) {
  const sentAt = wallNow();
  if (sentAt >= measureWindow.end || closing) return;
  client.timer = setTimeout(() => send(client), Math.max(0, client.nextAt + options.intervalMs - wallNow()));
  client.nextAt += options.intervalMs;
  if (client.outstanding >= MAX_OUTSTANDING) {
    stats.skipped++;
    return;
  }
  const seq = ++client.seq;
  const inWindow = sentAt >= measureWindow.start;
  stats.sent++;
  if (inWindow) stats.sentInWindow++;
  client.outstanding++;
  request(client.socket, 'message:send', {
    conversationId: client.conversationId,
    content: `bench ${client.index} ${seq} ${sentAt.toFixed(3)}`,
    clientMessageId: `bench-${client.index}-${seq}`,
  }).then((ack) => {
    client.outstanding--;
    if (!ack?.ok) {
      bump(stats.ackFailures, codeOf(ack));
      return;
    }
    stats.acked++;
    if (inWindow) {
      stats.ackedInWindow.push(`${client.index}:${seq}`);
      stats.ackMs.push(wallNow() - sentAt);
    }
  });
}

function startLoad({ startAt, windowStart, windowEnd }) {
  measureWindow = { start: windowStart, end: windowEnd };
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  setTimeout(
    () => {
      stats.cpu = process.cpuUsage();
      for (const client of clients) {
        if (!client.connected) continue;
        bump(stats.transports, client.socket.io.engine?.transport?.name ?? 'unknown');
      }
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
    client.nextAt = startAt + Math.random() * options.intervalMs;
    client.timer = setTimeout(() => send(client), Math.max(0, client.nextAt - wallNow()));
  }
}

function report() {
  return {
    ...stats,
    latencies: stats.latencies.slice(0, stats.latencyCount),
    stillOutstanding: clients.reduce((sum, client) => sum + (client.outstanding ?? 0), 0),
    connectedAtEnd: clients.filter((client) => client.connected).length,
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
    case 'report':
      process.send({ type: 'report', stats: report() });
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
