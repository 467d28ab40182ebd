// The soak's clients (bench/soak.mjs): steady chat in rooms of 10 with churn, in the soak's own process.
import jwt from 'jsonwebtoken';
import { io } from 'socket.io-client';
import { sleep } from './lib.mjs';

const ACK_TIMEOUT_MS = 10_000;

async function ask(socket, event, payload) {
  try {
    return await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload);
  } catch {
    return { ok: false, error: { code: 'TIMEOUT' } };
  }
}

/**
 * `count` users in rooms of 10, one socket each. Each sends a message every `sendIntervalMs` (jittered);
 * `churnPerSecond` sockets a second are closed and replaced by a new socket of the same user, which
 * joins its room again. Counts what happened for the report.
 */
export class SoakClients {
  counts = { sent: 0, acked: 0, failed: 0, connects: 0, disconnects: 0, answersDone: 0, answersFailed: 0 };
  #users = [];
  #running = true;
  #loops = [];

  constructor({ baseUrl, jwtSecret, count }) {
    this.baseUrl = baseUrl;
    this.jwtSecret = jwtSecret;
    this.count = count;
  }

  get connected() {
    return this.#users.filter((user) => user.socket?.connected).length;
  }

  async start({ sendIntervalMs, churnPerSecond }) {
    for (let i = 0; i < this.count; i++) this.#users.push({ id: `soak-${i}`, socket: undefined, room: '' });
    for (let i = 0; i < this.count; i += 50)
      await Promise.all(this.#users.slice(i, i + 50).map((user) => this.#connect(user)));
    for (let first = 0; first < this.count; first += 10) {
      const members = this.#users.slice(first, first + 10);
      const created = await ask(members[0].socket, 'conversation:create', {
        memberIds: members.slice(1).map((m) => m.id),
      });
      if (!created.ok) throw new Error(`conversation:create failed: ${JSON.stringify(created.error)}`);
      for (const member of members) {
        member.room = created.conversation.id;
        await ask(member.socket, 'conversation:join', { conversationId: member.room });
      }
    }
    this.#loops = this.#users.map((user, index) => this.#sendLoop(user, index, sendIntervalMs));
    this.#loops.push(this.#churnLoop(churnPerSecond));
  }

  async stop() {
    this.#running = false;
    await Promise.all(this.#loops);
    for (const user of this.#users) user.socket?.close();
  }

  #connect(user) {
    const token = jwt.sign({ sub: user.id, name: user.id }, this.jwtSecret, {
      algorithm: 'HS256',
      expiresIn: '12h',
    });
    const socket = io(`${this.baseUrl}/chat`, {
      auth: { token },
      forceNew: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
    });
    user.socket = socket;
    socket.on('disconnect', () => this.counts.disconnects++);
    socket.on('message:done', () => this.counts.answersDone++);
    socket.on('message:error', () => this.counts.answersFailed++);
    // A new server-side socket (a reconnect after a worker restart) is in no room yet.
    socket.io.on(
      'reconnect',
      () => user.room && void ask(socket, 'conversation:join', { conversationId: user.room }),
    );
    return new Promise((resolve, reject) => {
      socket.once('connect', () => {
        this.counts.connects++;
        resolve();
      });
      socket.once('connect_error', (error) => reject(new Error(`connect failed: ${error.message}`)));
    });
  }

  async #sendLoop(user, index, intervalMs) {
    await sleep((index * 97) % intervalMs);
    for (let n = 0; this.#running; n++) {
      if (user.socket?.connected && user.room) {
        this.counts.sent++;
        const ack = await ask(user.socket, 'message:send', {
          conversationId: user.room,
          content: `soak ${user.id} #${n}`,
          clientMessageId: `${user.id}-${n}`,
        });
        if (ack.ok) this.counts.acked++;
        else this.counts.failed++;
      }
      await sleep(intervalMs * (0.75 + Math.random() / 2));
    }
  }

  async #churnLoop(perSecond) {
    while (this.#running) {
      await sleep(1000);
      for (let i = 0; i < perSecond && this.#running; i++) {
        const user = this.#users[Math.floor(Math.random() * this.#users.length)];
        user.socket?.close();
        try {
          await this.#connect(user);
          await ask(user.socket, 'conversation:join', { conversationId: user.room });
        } catch {
          this.counts.failed++;
        }
      }
    }
  }
}
