// Helpers shared by the benchmark runner (run.mjs) and its load generators (load-generator.mjs).
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

/**
 * Wall-clock milliseconds with sub-millisecond resolution. Processes on one machine share the wall
 * clock, so a send time stamped in one load process can be compared with a receive time in another.
 */
export const wallNow = () => performance.timeOrigin + performance.now();

/** Per-second delivery histograms: 0.5 ms buckets up to 2 s, the last bucket for anything longer. */
export const SECOND_BUCKET_MS = 0.5;
export const SECOND_BUCKETS = 4_001;

/**
 * The p99 of each second of sending, from the load generators' per-second histograms (Maps of second,
 * counted from the window's start, -> Uint32Array): `{ firstSecond, p99 }`, p99[i] being second
 * firstSecond + i (negative: warm-up). Each value is its bucket's upper bound (NaN when nothing sent
 * in that second was delivered; above 2,000: 2 s or more). Shows how long a server takes to settle,
 * which one window's p99 cannot.
 */
export function p99BySecond(histogramMaps) {
  const merged = new Map();
  for (const histograms of histogramMaps)
    for (const [second, histogram] of histograms) {
      if (!merged.has(second)) merged.set(second, new Uint32Array(SECOND_BUCKETS));
      const into = merged.get(second);
      for (let i = 0; i < histogram.length; i++) into[i] += histogram[i];
    }
  if (merged.size === 0) return { firstSecond: 0, p99: [] };
  const firstSecond = Math.min(...merged.keys());
  const p99 = Array.from({ length: Math.max(...merged.keys()) - firstSecond + 1 }, (_, i) => {
    const histogram = merged.get(firstSecond + i);
    if (!histogram) return Number.NaN;
    const rank = Math.ceil(histogram.reduce((total, n) => total + n, 0) * 0.99);
    let seen = 0;
    for (let i = 0; i < histogram.length; i++) {
      seen += histogram[i];
      if (seen >= rank) return (i + 1) * SECOND_BUCKET_MS; // the bucket's upper bound
    }
    return Number.NaN;
  });
  return { firstSecond, p99 };
}

/** A loopback TCP port that was free a moment ago (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** GET on a loopback URL: resolves `{ status, body }`, or `{ status: 0, body: <error> }` on failure. */
export function httpGet(url, timeoutMs = 2_000) {
  return httpRequest('GET', url, timeoutMs);
}

/** POST without a body, answered as `httpGet` answers. */
export function httpPost(url, timeoutMs = 2_000) {
  return httpRequest('POST', url, timeoutMs);
}

function httpRequest(method, url, timeoutMs) {
  return new Promise((resolve) => {
    const request = http.request(url, { method, timeout: timeoutMs, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => {
        if (body.length < 64 * 1024) body += chunk;
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', (error) => resolve({ status: 0, body: error.message }));
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', (error) => resolve({ status: 0, body: error.message }));
    request.end();
  });
}

/** Polls `probe` until it returns a truthy value or `timeoutMs` passes; returns the value or throws. */
export async function waitUntil(probe, { timeoutMs, intervalMs = 200, what }) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value) return value;
    last = value;
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (${last})` : ''}`);
}

/** Nearest-rank percentile of an ascending array (`p` in 0..100); NaN when empty. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Adds `n` to `counts[key]` (a plain object used as a histogram of messages or codes). */
export function bump(counts, key, n = 1) {
  counts[key] = (counts[key] ?? 0) + n;
}

/** Sums several `bump` histograms into a new one. */
export function mergeCounts(list) {
  const total = {};
  for (const counts of list) for (const [key, n] of Object.entries(counts)) bump(total, key, n);
  return total;
}

const MAX_TREE = 1_000;

/**
 * `rootPid` and its descendants (the primary and its workers), read from
 * `/proc/<pid>/task/<tid>/children`. A process that exits between two reads is skipped.
 */
export function processTree(rootPid) {
  const seen = new Set();
  const queue = [rootPid];
  while (queue.length > 0 && seen.size < MAX_TREE) {
    const pid = queue.shift();
    if (seen.has(pid)) continue;
    seen.add(pid);
    let tasks;
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      seen.delete(pid); // it exited: nothing to count
      continue;
    }
    for (const tid of tasks) {
      const children = readProc(`/proc/${pid}/task/${tid}/children`);
      for (const child of children.split(/\s+/)) if (child) queue.push(Number(child));
    }
  }
  return [...seen];
}

/** The file's text, or '' when the process behind it is gone. */
function readProc(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return ''; // the process exited while we were reading: it holds no memory and no CPU any more
  }
}

/** Sum of VmRSS (KiB) over `pids`. */
export function rssKiB(pids) {
  let total = 0;
  for (const pid of pids) {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readProc(`/proc/${pid}/status`));
    if (match) total += Number(match[1]);
  }
  return total;
}

let clockTicks;
/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`, 100 on Linux in practice). */
function ticksPerSecond() {
  if (clockTicks === undefined) {
    const probe = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    clockTicks = Number(probe.stdout?.trim()) || 100;
  }
  return clockTicks;
}

/** CPU seconds (user + system) spent so far by `pids`. */
export function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readProc(`/proc/${pid}/stat`);
    // The command name (field 2) may hold spaces: fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields.length > 13) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / ticksPerSecond();
}

/**
 * The process's start time (clock ticks since boot), or undefined once it has exited: with the pid it
 * identifies one process, so a pid the kernel has reused since is never mistaken for it.
 */
export function startTime(pid) {
  const stat = readProc(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // A zombie has exited: it only waits for a parent (or an init that may be slow) to reap it.
  return fields[0] === 'Z' || fields[0] === 'X' ? undefined : fields[19];
}

const ANSWER_WORDS = (
  'the service streams each token of the answer to every socket of the room through redis while ' +
  'the worker that asked keeps the text so far in a checkpoint and a client that reconnects resumes ' +
  'from its next index'
).split(' ');

/**
 * The fake Ollama's answer, as `n` tokens: words with their leading space (about five characters each,
 * like a real model's), a line break now and then, and a few non-ASCII tokens (a multi-byte character
 * and a surrogate pair) so that a decoder that splits UTF-8 across network chunks would show.
 */
export function answerTokens(n) {
  const tokens = [];
  for (let i = 0; i < n; i++) {
    if (i % 50 === 49) tokens.push('\n\n');
    else if (i % 40 === 17) tokens.push(' café');
    else if (i % 40 === 37) tokens.push(' 🙂');
    else tokens.push(`${i === 0 ? '' : ' '}${ANSWER_WORDS[i % ANSWER_WORDS.length]}`);
  }
  return tokens;
}

/** Prints `header` and `lines` (arrays of strings) as a plain aligned table. */
export function printAlignedTable(header, lines) {
  const widths = header.map((_, column) =>
    Math.max(...[header, ...lines].map((line) => line[column].length)),
  );
  const render = (line) =>
    line
      .map((cell, column) => cell.padEnd(widths[column]))
      .join(' | ')
      .trimEnd();
  console.log(render(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('-|-'));
  for (const line of lines) console.log(render(line));
}

/**
 * How the load generators split the clients (`slices`: each process's client indexes) and the options
 * every one of them gets; `extra` adds scenario-specific options.
 */
export function loadPlan(options, server, extra = {}) {
  const procs = Math.min(options.procs, options.clients);
  const slices = Array.from({ length: procs }, () => []);
  for (let i = 0; i < options.clients; i++) slices[i % procs].push(i);
  const clientOptions = {
    url: server.url,
    jwtSecret: server.jwtSecret,
    transports: options.transports,
    conversations: options.conversations,
    totalClients: options.clients,
    intervalMs: 1_000 / options.rate,
    connectTimeoutMs: 20_000,
    ackTimeoutMs: 10_000,
    ...extra,
  };
  return { slices, clientOptions };
}

/** A number for a report: grouped thousands, `digits` decimals, 'n/a' when missing or not finite. */
export const fmt = (value, digits = 1) =>
  value === undefined || !Number.isFinite(value)
    ? 'n/a'
    : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** The total of a `bump` histogram. */
export const countOf = (counts) => Object.values(counts ?? {}).reduce((total, n) => total + n, 0);

/** A `bump` histogram as report lines, the largest first: `<n>  <message>`, at most `limit` of them. */
export function countLines(counts, limit = 20) {
  return Object.entries(counts ?? {})
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([message, n]) => `${String(n).padStart(7)}  ${message}`);
}

/** Resolves once the wall clock reaches `wallMs` (at once if it has). */
export async function sleepUntil(wallMs) {
  const wait = wallMs - wallNow();
  if (wait > 0) await sleep(wait);
}

/** Several arrays of numbers joined into one ascending Float64Array, ready for `percentile`. */
export function sortedOf(arrays) {
  const all = new Float64Array(arrays.reduce((sum, array) => sum + array.length, 0));
  let offset = 0;
  for (const array of arrays) {
    all.set(array, offset);
    offset += array.length;
  }
  return all.sort();
}

/** The soft and hard open-file limits of this process, from /proc/self/limits (undefined if unknown). */
export function openFileLimits() {
  let text;
  try {
    text = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined; // not Linux
  }
  const match = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(text);
  if (!match) return undefined;
  const value = (field) => (field === 'unlimited' ? Infinity : Number(field));
  return { soft: value(match[1]), hard: value(match[2]) };
}

/** Open descriptors of `pid` (entries of /proc/<pid>/fd), or NaN once it has exited. */
export function openDescriptors(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
}

/** The `p`th percentile (0..100) of a latency histogram of SECOND_BUCKET_MS buckets: a bucket's upper bound. */
export function histogramPercentile(histogram, p) {
  const rank = Math.ceil((histogram.reduce((total, n) => total + n, 0) * p) / 100);
  if (rank === 0) return Number.NaN;
  let seen = 0;
  for (let i = 0; i < histogram.length; i++)
    if ((seen += histogram[i]) >= rank) return (i + 1) * SECOND_BUCKET_MS;
  return Number.NaN;
}
