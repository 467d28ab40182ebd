// One attacker process, forked by hostile.mjs: `start` (its kind and targets) -> attacks from `startAt`
// until `stop` -> `report` (what it achieved), then it exits. Each kind runs in a process of its own
// so that one attacker's parsing (a sync answer of megabytes) never throttles another's sending.
// Every loop is closed (a bounded number of requests in flight), so an attacker goes as fast as the
// server answers it, never builds an unbounded queue of its own; only loopback addresses are used.
import http from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers';
import jwt from 'jsonwebtoken';
import { io } from 'socket.io-client';
import { bump, sleep } from './lib.mjs';

/** Parallel sync loops (sockets of the attacker's one account). */
const SYNC_PARALLEL = 4;
/** typing / conversation:leave emitted and not yet acknowledged, at most. */
const FLOOD_IN_FLIGHT = 200;
/** Polling handshakes in flight at once, and /chat sockets connecting at once beyond the cap. */
const HANDSHAKE_PARALLEL = 20;
const CHAT_CONNECT_PARALLEL = 5;
/** /chat sockets the handshake attacker keeps once connected (more than any sane per-user cap). */
const CHAT_HELD_MAX = 200;
/** Slow-header connections opened per 50 ms tick: a ramp the kernel's accept queue survives. */
const SLOW_OPEN_PER_TICK = 100;
const SLOW_DRIP_MS = 5_000;

let config;
let running = false;
const sockets = new Set();
const stats = {
  kind: undefined,
  user: undefined,
  events: 0,
  acks: {},
  bytesReceived: 0,
  errors: {},
  cpu: undefined,
};

function tokenFor(user) {
  return jwt.sign({ sub: user, name: user }, config.jwtSecret, { algorithm: 'HS256', expiresIn: '1h' });
}

/** A /chat socket of `user`: resolves it connected, or undefined with the connect_error counted. */
function chatSocket(user, counts = stats.errors) {
  return new Promise((resolve) => {
    const socket = io(`${config.url}/chat`, {
      auth: { token: tokenFor(user) },
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: 10_000,
    });
    sockets.add(socket);
    // Every Engine.IO message the server sends, counted in characters (the payloads are ASCII JSON).
    socket.io.once('open', () =>
      socket.io.engine.on('data', (data) => {
        stats.bytesReceived += typeof data === 'string' ? data.length : (data?.byteLength ?? 0);
      }),
    );
    const timer = setTimeout(() => done(undefined, 'no connect within 11 s'), 11_000);
    const done = (value, error) => {
      clearTimeout(timer);
      if (error) {
        bump(counts, error);
        socket.close();
        sockets.delete(socket);
      }
      resolve(value);
    };
    socket.once('connect', () => done(socket));
    socket.once('connect_error', (error) => done(undefined, `connect_error: ${error.message}`));
  });
}

function emit(socket, event, payload, timeoutMs) {
  stats.events++;
  return new Promise((resolve) => {
    if (!socket.connected) return resolve({ ok: false, error: { code: 'NOT_CONNECTED' } });
    socket.timeout(timeoutMs).emit(event, payload, (error, ack) => {
      resolve(error ? { ok: false, error: { code: 'ACK_TIMEOUT' } } : (ack ?? { ok: false }));
    });
  });
}

const codeOf = (ack) => (ack?.ok ? 'ok' : (ack?.error?.code ?? 'NO_CODE'));

// ------------------------------------------------------------------------------------------- kinds

/** conversation:sync of the seeded conversation from seq 0, page after page, over and over. */
async function syncLoop() {
  stats.passes = 0;
  stats.messagesReceived = 0;
  const loop = async () => {
    const socket = await chatSocket(config.user);
    if (!socket) return;
    let afterSeq = 0;
    while (running) {
      const ack = await emit(
        socket,
        'conversation:sync',
        { conversationId: config.longConversationId, afterSeq, limit: 200 },
        60_000,
      );
      if (!running) return; // acks failed by the stop itself are not the server's
      bump(stats.acks, codeOf(ack));
      const messages = Array.isArray(ack?.messages) ? ack.messages : [];
      stats.messagesReceived += messages.length;
      // Paging (hasMore) follows the last seq; without it one answer held everything: start over.
      if (ack?.ok && ack.hasMore === true && messages.length > 0) afterSeq = messages.at(-1).seq;
      else if (ack?.ok) {
        stats.passes++;
        afterSeq = 0;
      }
      if (!socket.connected) return bump(stats.errors, 'sync socket disconnected');
    }
  };
  await Promise.all(Array.from({ length: SYNC_PARALLEL }, loop));
}

/** `event` with `payload()` as fast as the acks come back, FLOOD_IN_FLIGHT at most unanswered. */
async function flood(event, payload, { join } = {}) {
  const socket = await chatSocket(config.user);
  if (!socket) return;
  stats.received = {};
  socket.onAny((name) => bump(stats.received, name));
  if (join) {
    const ack = await emit(socket, 'conversation:join', { conversationId: config.conversationId }, 10_000);
    bump(stats.acks, `join ${codeOf(ack)}`);
  }
  const lane = async () => {
    while (running && socket.connected) {
      const ack = await emit(socket, event, payload(), 5_000);
      if (running) bump(stats.acks, codeOf(ack)); // acks failed by the stop itself are not the server's
    }
  };
  await Promise.all(Array.from({ length: FLOOD_IN_FLIGHT }, lane));
  if (running) bump(stats.errors, 'flood socket disconnected');
}

/**
 * Slow headers: `target` connections each send part of a request and then one byte every
 * SLOW_DRIP_MS; one the server closes is replaced after a second, so the pressure stays on.
 */
async function slowHeaders() {
  const s = Object.assign(stats, { opened: 0, held: 0, maxHeld: 0, closedByServer: 0, responses: {} });
  s.lifetimesMs = [];
  const live = new Set();
  const open = () => {
    const socket = tcpConnect({ host: '127.0.0.1', port: config.port });
    const opened = Date.now();
    let connected = false;
    s.opened++;
    socket.setNoDelay(true);
    socket.on('connect', () => {
      connected = true;
      live.add(socket);
      s.held++;
      s.maxHeld = Math.max(s.maxHeld, s.held);
      socket.write('GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    });
    socket.on('data', (chunk) => {
      stats.bytesReceived += chunk.length;
      const line = chunk.toString('latin1').split('\r\n')[0].slice(0, 40);
      bump(s.responses, line || '(empty)');
    });
    socket.on('error', (error) => bump(stats.errors, error.code ?? error.message));
    socket.on('close', () => {
      if (!connected) return; // a failed connect: counted by its error
      live.delete(socket);
      s.held--;
      if (!running) return;
      s.closedByServer++;
      if (s.lifetimesMs.length < 100_000) s.lifetimesMs.push(Date.now() - opened);
    });
  };
  const drip = setInterval(() => {
    // A slice of the connections per tick: every one gets a byte each SLOW_DRIP_MS.
    const every = SLOW_DRIP_MS / 100;
    let i = 0;
    const phase = Math.floor(Date.now() / 100) % every;
    for (const socket of live) if (i++ % every === phase && socket.writable) socket.write('b');
  }, 100);
  while (running) {
    const missing = config.target - live.size;
    for (let n = 0; n < Math.min(missing, SLOW_OPEN_PER_TICK); n++) open();
    await sleep(missing > 0 ? 50 : 1_000); // replacements wait a second
  }
  clearInterval(drip);
  for (const socket of live) socket.destroy();
}

/** GET /socket.io/?EIO=4&transport=polling on a fresh connection: a new Engine.IO session, never used. */
function pollingHandshake() {
  return new Promise((resolve) => {
    stats.events++;
    const url = `${config.url}/socket.io/?EIO=4&transport=polling&t=${stats.events}`;
    const request = http.get(url, { agent: false, timeout: 10_000 }, (response) => {
      bump(stats.acks, `HTTP ${response.statusCode}`);
      response.on('data', (chunk) => (stats.bytesReceived += chunk.length));
      response.on('end', resolve);
      response.on('error', resolve);
    });
    request.on('timeout', () => request.destroy(new Error('timeout 10 s')));
    request.on('error', (error) => {
      bump(stats.errors, error.code ?? error.message);
      resolve();
    });
  });
}

/** Polling handshakes in a loop, beside /chat connects of one user far beyond any per-user cap. */
async function handshakes() {
  stats.chat = { held: 0, refused: {} };
  const polling = async () => {
    while (running) await pollingHandshake();
  };
  const chat = async () => {
    while (running) {
      if (stats.chat.held >= CHAT_HELD_MAX) {
        await sleep(500);
        continue;
      }
      const socket = await chatSocket(config.user, stats.chat.refused);
      if (!socket) continue;
      stats.chat.held++;
      socket.on('disconnect', (reason) => {
        stats.chat.held--;
        if (running) bump(stats.chat.refused, `disconnected: ${reason}`);
      });
    }
  };
  await Promise.all([
    ...Array.from({ length: HANDSHAKE_PARALLEL }, polling),
    ...Array.from({ length: CHAT_CONNECT_PARALLEL }, chat),
  ]);
}

const KINDS = {
  sync: syncLoop,
  typing: () =>
    flood('typing', () => ({ conversationId: config.conversationId, isTyping: true }), { join: true }),
  leave: () => flood('conversation:leave', () => ({ conversationId: config.conversationId })),
  'slow-headers': slowHeaders,
  handshake: handshakes,
};

// ------------------------------------------------------------------------------------------- control

let finished;
process.on('message', async (command) => {
  if (command.type === 'start') {
    config = command.config;
    stats.kind = config.kind;
    stats.user = config.user;
    await sleep(Math.max(0, config.startAt - Date.now()));
    running = true;
    stats.cpu = process.cpuUsage();
    stats.startedAt = Date.now();
    finished = KINDS[config.kind]().catch((error) => bump(stats.errors, `crashed: ${error.message}`));
  } else if (command.type === 'stop') {
    running = false;
    stats.cpu = process.cpuUsage(stats.cpu);
    stats.seconds = (Date.now() - stats.startedAt) / 1_000;
    if (stats.chat) stats.chat.heldAtStop = stats.chat.held;
    for (const socket of sockets) socket.close();
    // Loops blocked on a slow ack end within their timeout; the report does not wait for them.
    await Promise.race([finished, sleep(2_000)]);
    process.send({ type: 'report', stats });
    setTimeout(() => process.exit(0), 200);
  }
});

// The runner is gone (crashed or killed): never linger holding thousands of connections.
process.on('disconnect', () => process.exit(0));
