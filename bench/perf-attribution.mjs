// On-CPU time of server processes by package or file, from a `perf script` dump: each sample is
// charged to the innermost JavaScript frame of its stack (so the kernel and V8 work a function
// caused counts as that function's package); samples with no JavaScript frame are charged to the GC,
// the optimizing compiler, libuv or their native leaf. Unlike `--cpu-prof` (wall-clock samples, which
// land on whatever frame a descheduled process was in), perf's cpu-clock only samples running code.
//
//   BENCH_SERVER_NODE_FLAGS=--perf-basic-prof-only-functions npm run bench -- --only ours &
//   perf record -F 499 -a -g -o perf.data -- sleep 15        # during the measurement window
//   perf script -i perf.data -F comm,pid,tid,ip,sym,dso > perf.txt
//   node bench/perf-attribution.mjs perf.txt PID[,PID...] [top]   # the workers' pids (ps -ef)
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

const [file, pidList, top = '40'] = process.argv.slice(2);
if (!file || !pidList) {
  console.error('usage: node bench/perf-attribution.mjs PERF_SCRIPT_OUTPUT PID[,PID...] [TOP]');
  process.exit(2);
}
const pids = new Set(pidList.split(','));

/** The package (node_modules), file (the project's own) or Node module a JS frame belongs to. */
function categoryOf(frame) {
  const match = /JS:[*^~]?\S* (\S+?):\d+:\d+/.exec(frame);
  if (!match) return undefined;
  const path = match[1].replace(/^file:\/\//, '').replace(`${process.cwd()}/`, '');
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

const counts = new Map();
let total = 0;
let pid;
let stack = [];
const flush = () => {
  if (pid !== undefined && pids.has(pid) && stack.length > 0) {
    total++;
    const category = stack.map(categoryOf).find(Boolean) ?? nativeCategory(stack[0]);
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
