// On-CPU time of server processes from a `perf script` dump, in one of two views:
//
// - `package` (default): each sample is charged to the innermost JavaScript frame of its stack (so the
//   kernel and V8 work a function caused counts as that function's package); samples with no
//   JavaScript frame are charged to the GC, the optimizing compiler, libuv or their native leaf.
// - `stage`: each sample is charged to the first stage of the message path found anywhere in its stack
//   (STAGES, in order), so the same table reads for our service and the reference server.
//
// Unlike `--cpu-prof` (wall-clock samples, which land on whatever frame a descheduled process was in),
// perf's cpu-clock only samples running code.
//
//   BENCH_SERVER_NODE_FLAGS=--perf-basic-prof-only-functions npm run bench -- --only ours &
//   perf record -F 499 -a -g -o perf.data -- sleep 15        # during the measurement window
//   perf script -i perf.data -F comm,pid,tid,ip,sym,dso > perf.txt
//   node bench/perf-attribution.mjs perf.txt PID[,PID...] [top] [package|stage]   # the workers' pids
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

const [file, pidList, top = '40', view = 'package'] = process.argv.slice(2);
if (!file || !pidList || !['package', 'stage'].includes(view)) {
  console.error(
    'usage: node bench/perf-attribution.mjs PERF_SCRIPT_OUTPUT PID[,PID...] [TOP] [package|stage]',
  );
  process.exit(2);
}
const pids = new Set(pidList.split(','));

/**
 * Stages of a message's life in a worker, matched against `function file:line` of any frame; the
 * first stage whose pattern matches some frame takes the sample. Order matters: validation and the
 * rate limit run inside the event handler, the handler inside incoming frames.
 */
const STAGES = [
  ['validation (class-validator, class-transformer)', /class-validator|class-transformer|\/validator\//],
  ['rate limit', /rate-limiter-flexible/],
  ['metrics', /prom-client|dist\/metrics\//],
  [
    'database (SQLite, PostgreSQL, TypeORM)',
    /better-sqlite3|message-inserter|\/typeorm\/|\/pg\/|pg-protocol/,
  ],
  ["delivery of other workers' broadcasts", /onmessage \S*@socket\.io\/redis-adapter/],
  ['broadcast: local room and publish', /^emit \S*socket\.io\/dist\/broadcast-operator/],
  ['acknowledgements', /^ack \S*socket\.io\/dist\/socket\.js|onack|respond \S*redis-io\.adapter/],
  [
    'event handlers (service, auth, rooms)',
    /^onevent \S*socket\.io\/dist\/socket\.js|bench\/reference-server/,
  ],
  [
    'incoming frames (ws, engine.io, parser)',
    /\/ws\/lib\/receiver|engine\.io\/build\/socket\.js:\d+$|socket\.io-parser|ondata \S*socket\.io\/dist\/client/,
  ],
  ['Redis client (other commands, replies)', /\/ioredis\/|redis-parser/],
  ['outgoing writes (flushes, heartbeats)', /\/ws\/lib\/sender|engine\.io/],
  ['Nest, rxjs', /@nestjs|\/rxjs\//],
];

/** `function file:line` of a JavaScript frame (paths relative to node_modules or the checkout). */
function jsFrame(frame) {
  const match = /JS:[*^~]?(\S*) (\S+?):(\d+):\d+/.exec(frame);
  if (!match) return undefined;
  const path = match[2].replace(/^file:\/\//, '').replace(`${process.cwd()}/`, '');
  return { name: match[1], path, line: match[3] };
}

/** The package (node_modules), file (the project's own) or Node module a JS frame belongs to. */
function packageOf({ path }) {
  if (path.includes('node_modules/')) {
    const parts = path.split('node_modules/').at(-1).split('/');
    return `npm:${parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]}`;
  }
  if (path.startsWith('node:')) return `node:${path.slice(5).split('/').at(-1)}`;
  return path;
}

function nativeCategory(leaf) {
  if (/Scaveng|Heap|GC|Mark|Sweep/.test(leaf)) return '<gc>';
  if (/compiler|Compil|Turbo|Maglev/.test(leaf)) return '<compiler>';
  if (/uv__|epoll/.test(leaf)) return '<libuv>';
  return `<native:${leaf.split(' (')[0].slice(0, 40)}>`;
}

function categoryOf(stack) {
  const frames = stack.map(jsFrame).filter(Boolean);
  if (view === 'package') return frames.length > 0 ? packageOf(frames[0]) : nativeCategory(stack[0]);
  const texts = frames.map(({ name, path, line }) => `${name} ${path}:${line}`);
  const stage = STAGES.find(([, pattern]) => texts.some((text) => pattern.test(text)));
  if (stage) return stage[0];
  if (frames.length > 0) return `other JavaScript (innermost: ${packageOf(frames[0])})`;
  const native = nativeCategory(stack[0]);
  return native.startsWith('<native') ? 'other native (kernel, libuv, V8 runtime)' : native;
}

const counts = new Map();
let total = 0;
let pid;
let stack = [];
const flush = () => {
  if (pid !== undefined && pids.has(pid) && stack.length > 0) {
    total++;
    const category = categoryOf(stack);
    counts.set(category, (counts.get(category) ?? 0) + 1);
  }
  stack = [];
  pid = undefined;
};
for await (const line of createInterface({ input: createReadStream(file) })) {
  if (line.trim() === '') flush();
  else if (!/^\s/.test(line)) pid = /^\S+\s+(\d+)/.exec(line)?.[1];
  else stack.push(line.trim().split(' ').slice(1).join(' '));
}
flush();

console.log(`${total} samples`);
for (const [category, n] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) {
  console.log(`${String(n).padStart(7)} ${((100 * n) / total).toFixed(1).padStart(5)}%  ${category}`);
}
