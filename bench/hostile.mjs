// `npm run bench -- --scenario hostile`: our service under its normal load (the messages scenario's
// clients) while one attacker of each kind (attackers.mjs) hits it, on the same server in one run:
//   warm-up | baseline (no attacker) | attack (every attacker) | after (attackers gone)
// Delivery is judged per phase by the second each message was sent in, so the baseline and the attack
// are measured on the same connections, rooms and database. Liveness is polled every second and the
// server's descriptors and memory sampled every second throughout. See docs/benchmarks.md.
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers';
import { fileURLToPath, URL } from 'node:url';
import Database from 'better-sqlite3';
import {
  cpuSeconds,
  httpGet,
  loadPlan,
  mergeCounts,
  openDescriptors,
  processTree,
  rssKiB,
  sleep,
  wallNow,
} from './lib.mjs';
import { summarizeHostile } from './hostile-report.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
export const ATTACKER_KINDS = ['sync', 'typing', 'leave', 'slow-headers', 'handshake'];
/** The conversation the typing and leave attackers aim at: the first of the normal clients' rooms. */
const TARGET_CONVERSATION = 0;

/** Attacker processes: killed with the runner, whatever way it ends (they also exit on disconnect). */
const attackers = new Set();
process.on('exit', () => {
  for (const child of attackers) if (child.exitCode === null) child.kill('SIGKILL');
});

/**
 * A conversation of `count` messages of `chars` characters each, written straight into the service's
 * SQLite file (sending them would take hours at the per-user rate limit), with `member` its only member.
 * Runs once the service has migrated the file and before any client connects; the service derives the
 * next seq from MAX(seq), so rows inserted behind its back are read like its own.
 */
export function seedLongConversation(dbPath, member, count, chars) {
  const db = new Database(dbPath, { timeout: 10_000 });
  try {
    const id = randomUUID();
    const filler = 'lorem ipsum dolor sit amet '.repeat(Math.ceil(chars / 27));
    const insertMessage = db.prepare(
      'INSERT INTO messages (id, conversation_id, seq, role, author_id, content, status) ' +
        "VALUES (?, ?, ?, 'user', ?, ?, 'complete')",
    );
    db.transaction(() => {
      db.prepare('INSERT INTO conversations (id, title, created_by, last_seq) VALUES (?, ?, ?, ?)').run(
        id,
        'hostile: a long conversation',
        member,
        count,
      );
      db.prepare('INSERT INTO conversation_members (conversation_id, user_id) VALUES (?, ?)').run(id, member);
      for (let seq = 1; seq <= count; seq++) {
        const content = `${seq} ${filler}`.slice(0, chars);
        insertMessage.run(randomUUID(), id, seq, member, content);
      }
    })();
    return id;
  } finally {
    db.close();
  }
}

/**
 * Every second: GET /api/health on PORT and on PROBE_PORT (each poll its own request, at most 3 in
 * flight per port, so a stalled server shows as failures instead of one long wait), the primary's
 * descriptors, and each server process's RSS and CPU time.
 */
function startMonitor(server, primaryPid) {
  const polls = [];
  const samples = [];
  const inFlight = { port: 0, probe: 0 };
  const targets = [['port', server.url]];
  if (server.probePort) targets.push(['probe', `http://127.0.0.1:${server.probePort}`]);
  const tick = () => {
    const t = wallNow();
    for (const [name, base] of targets) {
      if (inFlight[name] >= 3) {
        polls.push({ t, target: name, ok: false, ms: Number.NaN, error: '3 polls already waiting' });
        continue;
      }
      inFlight[name]++;
      httpGet(`${base}/api/health`, 2_000).then(({ status, body }) => {
        inFlight[name]--;
        const ok = status === 200;
        polls.push({ t, target: name, ok, ms: wallNow() - t, error: ok ? undefined : `${status} ${body}` });
      });
    }
    const pids = processTree(primaryPid);
    const rss = Object.fromEntries(pids.map((pid) => [pid, rssKiB([pid])]));
    const fds = Object.fromEntries(pids.map((pid) => [pid, openDescriptors(pid)]));
    const cpu = Object.fromEntries(pids.map((pid) => [pid, cpuSeconds([pid])]));
    samples.push({ t, fds: fds[primaryPid] ?? Number.NaN, workerFds: fds, rss, cpu });
  };
  tick();
  const timer = setInterval(tick, 1_000);
  return {
    polls,
    samples,
    stop: () => clearInterval(timer),
  };
}

/** Forks one attacker of `kind`, told to start at `startAt` (wall-clock ms). */
function launchAttacker(kind, config) {
  const child = fork(join(HERE, 'attackers.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  attackers.add(child);
  child.once('exit', () => attackers.delete(child));
  child.send({ type: 'start', config: { ...config, kind, user: `attacker-${kind}` } });
  return {
    kind,
    stop: () =>
      new Promise((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve({ kind, failed: 'no report within 15 s' });
        }, 15_000);
        child.once('message', (message) => {
          clearTimeout(timer);
          resolve(message.stats);
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          resolve({ kind, failed: `exited (${code}) before reporting` });
        });
        if (child.connected) child.send({ type: 'stop' });
      }),
  };
}

async function sleepUntil(wallMs) {
  const wait = wallMs - wallNow();
  if (wait > 0) await sleep(wait);
}

/**
 * The hostile scenario on our running server. `run` carries run.mjs's helpers (Loader, settle,
 * connectAndJoin, rememberTree), so the normal clients are exactly the messages scenario's.
 */
export async function measureHostile(server, options, redis, run) {
  const primaryPid = server.child.pid;
  const pids = () => run.rememberTree(primaryPid);
  await run.settle(server, options.workers, pids);
  const kinds = options.attackers;

  let longConversationId;
  if (kinds.includes('sync')) {
    const started = Date.now();
    longConversationId = seedLongConversation(
      join(server.dir, 'bench.db'),
      'attacker-sync',
      options.syncMessages,
      8_000,
    );
    console.log(
      `ours: seeded a conversation of ${options.syncMessages} messages of 8,000 characters in ` +
        `${((Date.now() - started) / 1_000).toFixed(1)} s`,
    );
  }

  const { slices, clientOptions } = loadPlan(options, server, {
    extraMembers: { [TARGET_CONVERSATION]: ['attacker-typing'] },
  });
  const fleet = slices.map((_, index) => new run.Loader(index));
  let monitor;
  const launched = [];
  try {
    const { conversations, members } = await run.connectAndJoin(fleet, slices, options, clientOptions);
    await sleep(2_000);

    const startAt = wallNow() + 500;
    const phases = {};
    phases.warmup = [startAt, startAt + options.warmup * 1_000];
    phases.baseline = [phases.warmup[1], phases.warmup[1] + options.duration * 1_000];
    phases.attack = [phases.baseline[1], phases.baseline[1] + options.duration * 1_000];
    phases.after = [phases.attack[1], phases.attack[1] + options.after * 1_000];
    const [windowStart, windowEnd] = [phases.baseline[0], phases.after[1]];
    monitor = startMonitor(server, primaryPid);
    for (const loader of fleet) loader.tell({ type: 'load', startAt, windowStart, windowEnd });
    const total = (windowEnd - startAt) / 1_000;
    console.log(
      `ours: ${Object.values(members).reduce((a, b) => a + b, 0)} clients joined; warm-up ` +
        `${options.warmup} s, baseline ${options.duration} s, attack ${options.duration} s ` +
        `(${kinds.join(', ')}), after ${options.after} s: ${total.toFixed(0)} s of load...`,
    );

    // Attackers are forked (and connect) only when the attack starts, so the baseline is clean.
    const attackConfig = {
      url: server.url,
      port: Number(new URL(server.url).port),
      jwtSecret: server.jwtSecret,
      startAt: phases.attack[0],
      longConversationId,
      conversationId: conversations[TARGET_CONVERSATION],
      target: options.slowConnections,
    };
    await sleepUntil(phases.attack[0] - 1_500);
    for (const kind of kinds) launched.push(launchAttacker(kind, attackConfig));
    await sleepUntil(phases.attack[1]);
    const attackerReports = await Promise.all(launched.map((attacker) => attacker.stop()));
    console.log('ours: attack over; attackers stopped and reported');
    await sleepUntil(windowEnd + options.drain * 1_000);
    monitor.stop();
    await sleep(2_100); // the last liveness polls answer or time out

    const reports = (
      await Promise.all(fleet.map((loader) => loader.ask({ type: 'report' }, 'report', 60_000)))
    ).map((reply) => reply.stats);
    return summarizeHostile({
      options,
      reports,
      members,
      conversations,
      phases,
      windowStart,
      monitor,
      primaryPid,
      attackers: attackerReports,
      connectFailures: mergeCounts(reports.map((report) => report.connectFailures)),
    });
  } finally {
    monitor?.stop();
    for (const child of attackers) child.kill('SIGKILL');
    await Promise.all(fleet.map((loader) => loader.close()));
  }
}
