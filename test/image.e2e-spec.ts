import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
} from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { SHUTDOWN_MARGIN_MS } from '../src/cluster/worker-supervisor.js';
import { TEST_JWT_SECRET, connectChat, tokenFor } from './support/chat-client.js';
import { assertNoLeaks, registerSecret } from './support/log-audit.js';
import { freePort, sleep, waitFor } from './support/ports.js';
import { childrenOf, stateOf } from './support/proc.js';
import { RedisServer } from './support/redis-server.js';

// What the Dockerfile promises, proven without a Docker engine: its runtime (`npm ci --omit=dev
// --omit=optional` plus dist/, run as an unprivileged user, writing only STORAGE_DIR) starts and stops
// cleanly, and the primary is a correct PID 1 (SIGTERM handled, workers reaped) in a PID namespace of its own, as in a container.

const REPO = process.cwd();
const NOBODY = 65534;
const WORKERS = 2;
const GRACE_MS = 5000;
const DRAIN_DELAY_MS = 1500;
const NODE_NAME = basename(process.execPath).slice(0, 15);

let redis: RedisServer;
const launched = new Set<Launched>();
const tempDirs: string[] = [];

/** A process of this file, in its own process group, with its output kept for error messages and the audit. */
class Launched {
  readonly child: ChildProcess;
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv) {
    this.child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    // 'close', not 'exit': the status once the output is complete too.
    this.exited = new Promise((resolve) =>
      this.child.once('close', (code, signal) => resolve({ code, signal })),
    );
    launched.add(this);
  }

  /** True while running; throws with the output once it has exited (a wait for it fails with the output). */
  alive(): true {
    if (this.child.exitCode === null && this.child.signalCode === null) return true;
    throw new Error(`exited early (${this.child.signalCode ?? this.child.exitCode}):\n${this.output}`);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** SIGKILLs the process, its group and every descendant (the workers have process groups of their own). */
  kill(): void {
    for (const pid of [...descendantsOf(this.pid), this.pid, -this.pid]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  }
}

/** Runs a command to completion; throws with its output unless it exits 0. */
async function run(command: string, args: string[], cwd: string): Promise<void> {
  const step = new Launched(command, args, cwd, process.env);
  const { code, signal } = await step.exited;
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${signal ?? code}):\n${step.output}`);
}

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** A field of /proc/<pid>/status with its whitespace collapsed, or undefined once the process is gone. */
function statusField(pid: number, field: string): string | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${field}:`));
    return line
      ?.slice(field.length + 1)
      .trim()
      .replace(/\s+/g, ' ');
  } catch {
    return undefined;
  }
}

function descendantsOf(pid: number): number[] {
  return childrenOf(pid).flatMap((child) => [child, ...descendantsOf(child)]);
}

/** The primary's forked workers: its `node` children. */
function workersOf(primary: number): number[] {
  return childrenOf(primary).filter((pid) => statusField(pid, 'Name') === NODE_NAME);
}

/** The pid inside the innermost PID namespace (what the service logs), from NSpid. */
function nsPid(pid: number): number {
  return Number(statusField(pid, 'NSpid')?.split(' ').at(-1));
}

/** Every live process (zombies included) whose PID namespace is `namespace` (`pid:[inode]`). */
function processesIn(namespace: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return readlinkSync(`/proc/${entry}/ns/pid`) === namespace;
      } catch {
        return false;
      }
    })
    .map(Number);
}

function catches(pid: number, signal: number): boolean {
  return ((BigInt(`0x${statusField(pid, 'SigCgt') ?? '0'}`) >> BigInt(signal - 1)) & 1n) === 1n;
}

/** The namespace pids of the workers the primary reported ready, from its log. */
function readyWorkers(output: string): number[] {
  return [...output.matchAll(/Worker (\d+) ready on/g)].map(([, pid]) => Number(pid));
}

/** Waits for `/api/ready` 200 with `workers` workers ready; fails with the output if the process exited. */
async function waitForReady(service: Launched, port: number, workers = WORKERS): Promise<void> {
  await waitFor(
    async () => {
      service.alive();
      if (readyWorkers(service.output).length < workers) return false;
      return (await fetch(`http://127.0.0.1:${port}/api/ready`)).status === 200;
    },
    { timeoutMs: 90_000, intervalMs: 200, what: `readiness on port ${port}` },
  );
}

/** Until `done` settles, samples every 20 ms: the longest any of `pids` stayed a zombie. */
async function longestZombieMs(pids: number[], done: Promise<unknown>): Promise<number> {
  let settled = false;
  void done.finally(() => (settled = true));
  const since = new Map<number, number>();
  let longest = 0;
  while (!settled) {
    for (const pid of pids) {
      if (stateOf(pid) !== 'Z') since.delete(pid);
      else if (!since.has(pid)) since.set(pid, Date.now());
      else longest = Math.max(longest, Date.now() - since.get(pid)!);
    }
    await sleep(20);
  }
  return longest;
}

interface Pid1 {
  unshare: Launched;
  /** The primary's pid on the host; 1 inside its namespace. */
  primary: number;
  port: number;
}

/** `unshare --pid --fork --mount-proc node dist/main.js`: the primary is PID 1 of a new PID namespace. */
async function startAsPid1(): Promise<Pid1> {
  const port = await freePort();
  const dir = tempDir('chat-pid1-');
  const unshare = new Launched(
    'unshare',
    ['--pid', '--fork', '--mount-proc', process.execPath, join(REPO, 'dist/main.js')],
    dir,
    {
      PATH: process.env.PATH,
      HOME: dir,
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      STORAGE_DIR: join(dir, 'storage'),
      DATABASE_URL: `sqlite:${join(dir, 'chat.db')}`,
      ASSISTANT_ENABLED: 'false',
      OLLAMA_URL: 'http://127.0.0.1:9',
      JWT_SECRET: TEST_JWT_SECRET,
      REDIS_ENABLED: 'true',
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: 'image-e2e',
      WORKERS: String(WORKERS),
      SHUTDOWN_GRACE_MS: String(GRACE_MS),
      SHUTDOWN_DRAIN_DELAY_MS: String(DRAIN_DELAY_MS),
    },
  );
  const primary = await waitFor(() => unshare.alive() && childrenOf(unshare.pid)[0], {
    what: 'the child of unshare',
  });
  await waitForReady(unshare, port);
  expect(statusField(primary, 'Name')).toBe(NODE_NAME);
  expect(nsPid(primary)).toBe(1);
  return { unshare, primary, port };
}

beforeAll(async () => {
  // `npm test` builds first; a lone run of this file may not have.
  if (!existsSync(join(REPO, 'dist/main.js'))) await run('npm', ['run', 'build'], REPO);
  redis = await RedisServer.start();
}, 180_000);

afterAll(async () => {
  for (const proc of launched) proc.kill();
  await Promise.all([...launched].map((proc) => proc.exited));
  await redis?.stop();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe("the image's runtime: production dependencies only, as an unprivileged user", () => {
  /** Every path under `root` but `excluded`, with size and mtime: a new or rewritten file shows. */
  const listing = (root: string, excluded: string) =>
    readdirSync(root, { recursive: true, encoding: 'utf8' })
      .filter((path) => path !== excluded && !path.startsWith(`${excluded}/`))
      .map((path) => {
        const stat = lstatSync(join(root, path));
        return stat.isDirectory() ? `${path}/` : `${path} ${stat.size} ${stat.mtimeMs}`;
      })
      .sort();

  it('`npm ci --omit=dev --omit=optional` plus dist/ starts as nobody (primary and workers), writes only its data dir and exits 0 on SIGTERM', async () => {
    const root = tempDir('chat-image-');
    chmodSync(root, 0o755);
    for (const file of ['package.json', 'package-lock.json']) cpSync(join(REPO, file), join(root, file));
    await run('npm', ['ci', '--omit=dev', '--omit=optional', '--no-audit', '--no-fund'], root);
    cpSync(join(REPO, 'dist'), join(root, 'dist'), { recursive: true });
    mkdirSync(join(root, 'data'));
    chownSync(join(root, 'data'), NOBODY, NOBODY);
    await run('chmod', ['-R', 'a+rX', root], root);

    // Exactly the lockfile's production closure: every dev-only package absent, every required one present
    // (optional ones, like typescript as @nestjs/swagger's optional peer, are left out by --omit=optional).
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }>;
    };
    const packages = Object.entries(lock.packages).filter(([path]) => path.startsWith('node_modules/'));
    const installed = (path: string) => existsSync(join(root, path));
    expect(packages.filter(([path, { dev }]) => dev && installed(path)).map(([path]) => path)).toEqual([]);
    expect(
      packages
        .filter(([path, p]) => !p.dev && !p.optional && !p.devOptional && !installed(path))
        .map(([path]) => path),
    ).toEqual([]);
    expect(installed('node_modules/typescript')).toBe(false);
    expect(installed('node_modules/jest')).toBe(false);

    const before = listing(root, 'data');
    const port = await freePort();
    const secret = randomBytes(36).toString('base64url');
    registerSecret('JWT secret', secret);
    // As the image runs it: WORKDIR is the install, the default DATABASE_URL (data/chat.db) lies in STORAGE_DIR.
    const service = new Launched(
      'setpriv',
      [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, 'dist/main.js'],
      root,
      {
        PATH: process.env.PATH,
        HOME: '/nonexistent',
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        PORT: String(port),
        STORAGE_DIR: join(root, 'data'),
        JWT_SECRET: secret,
        CORS_ORIGINS: 'https://chat.image-e2e.test',
        REDIS_ENABLED: 'true',
        REDIS_URL: redis.url,
        WORKERS: String(WORKERS),
        ASSISTANT_ENABLED: 'false',
        OLLAMA_URL: 'http://127.0.0.1:9',
      },
    );
    await waitForReady(service, port);
    const ready = (await (await fetch(`http://127.0.0.1:${port}/api/ready`)).json()) as object;
    expect(ready).toMatchObject({ status: 'ready', security_validated: true, workers: WORKERS });

    // setpriv exec'd node: the spawned pid is the primary; its node children are the workers.
    const workers = workersOf(service.pid);
    expect(workers).toHaveLength(WORKERS);
    for (const pid of [service.pid, ...workers]) {
      expect({ pid, name: statusField(pid, 'Name'), uid: statusField(pid, 'Uid') }).toEqual({
        pid,
        name: NODE_NAME,
        uid: `${NOBODY} ${NOBODY} ${NOBODY} ${NOBODY}`,
      });
      expect(statusField(pid, 'Gid')).toBe(`${NOBODY} ${NOBODY} ${NOBODY} ${NOBODY}`);
      expect(statusField(pid, 'Groups')).toBe('');
    }

    process.kill(service.pid, 'SIGTERM');
    expect(await service.exited).toEqual({ code: 0, signal: null });
    expect(workers.map(stateOf)).toEqual(workers.map(() => undefined));
    // It wrote its database as nobody, inside the data dir, and nothing anywhere else in the install.
    expect(lstatSync(join(root, 'data/chat.db')).uid).toBe(NOBODY);
    expect(listing(root, 'data')).toEqual(before);
    assertNoLeaks(service.output, 'the production install');
  }, 300_000);
});

describe('the primary as PID 1 of its own PID namespace', () => {
  it('the namespace is a real one: a PID 1 without a SIGTERM handler ignores SIGTERM (so the primary must handle it)', async () => {
    const unshare = new Launched('unshare', ['--pid', '--fork', '--mount-proc', 'sleep', '60'], '/', {
      PATH: process.env.PATH,
    });
    const init = await waitFor(
      () => unshare.alive() && childrenOf(unshare.pid).find((pid) => statusField(pid, 'Name') === 'sleep'),
      { what: 'sleep as PID 1' },
    );
    expect(nsPid(init)).toBe(1);
    process.kill(init, 'SIGTERM');
    // The kernel drops it at once rather than delivering it later: half a second shows it.
    await sleep(500);
    expect(stateOf(init)).toMatch(/^[RS]$/);
    process.kill(init, 'SIGKILL');
    await unshare.exited;
  });

  it('SIGTERM: readiness 503 during the drain, the client cut, exit 0 within the grace time, every worker reaped, nothing left', async () => {
    const { unshare, primary, port } = await startAsPid1();
    const namespace = readlinkSync(`/proc/${primary}/ns/pid`);
    const workers = workersOf(primary);
    expect(workers).toHaveLength(WORKERS);
    const workerNsPids = workers.map(nsPid);
    expect(processesIn(namespace).sort()).toEqual([primary, ...workers].sort());
    expect(catches(primary, constants.signals.SIGTERM)).toBe(true);
    const client = await connectChat(`http://127.0.0.1:${port}`, tokenFor('pid1-user'));
    const reasons: string[] = [];
    client.on('disconnect', (reason) => reasons.push(reason));
    try {
      const signalledAt = Date.now();
      process.kill(primary, 'SIGTERM');
      const zombieMs = longestZombieMs(workers, unshare.exited);
      await waitFor(
        async () =>
          (await fetch(`http://127.0.0.1:${port}/api/ready`).catch(() => undefined))?.status === 503,
        { timeoutMs: DRAIN_DELAY_MS, intervalMs: 50, what: 'readiness 503 during the drain' },
      );
      // unshare --fork exits with its child's status: the primary's.
      expect(await unshare.exited).toEqual({ code: 0, signal: null });
      expect(Date.now() - signalledAt).toBeLessThan(GRACE_MS + SHUTDOWN_MARGIN_MS);
      expect(reasons).toEqual(['transport close']);
      // A worker's exit code reaches the primary only through waitpid: each was reaped before it exited.
      for (const pid of workerNsPids) expect(unshare.output).toContain(`Worker ${pid} exited (code 0)`);
      expect(unshare.output).toContain('All workers exited; primary exiting');
      expect(await zombieMs).toBeLessThan(1000);
      expect(processesIn(namespace)).toEqual([]);
      assertNoLeaks(unshare.output, 'the primary as PID 1');
    } finally {
      client.close();
    }
  });

  describe('while it runs', () => {
    let pid1: Pid1;
    beforeAll(async () => {
      pid1 = await startAsPid1();
    }, 120_000);
    afterAll(() => pid1?.unshare.kill());

    it('reaps a SIGKILLed worker within 2 s (no zombie lingers) and forks a replacement', async () => {
      const { unshare, primary, port } = pid1;
      const workers = workersOf(primary);
      expect(workers).toHaveLength(WORKERS);
      const [victim, survivor] = workers;
      const victimNsPid = nsPid(victim);
      process.kill(victim, 'SIGKILL');
      await waitFor(() => stateOf(victim) === undefined, {
        timeoutMs: 2000,
        intervalMs: 20,
        what: `the killed worker ${victim} reaped, not left a zombie`,
      });
      // Logged after the reaping, so it may reach the pipe a moment after the /proc entry went.
      const exitLine = `Worker ${victimNsPid} exited (SIGKILL); starting a replacement`;
      await waitFor(() => unshare.output.includes(exitLine), { what: exitLine });
      const replacement = await waitFor(
        () => workersOf(primary).find((pid) => pid !== survivor && pid !== victim),
        { timeoutMs: 30_000, what: 'a replacement worker' },
      );
      await waitFor(() => readyWorkers(unshare.output).includes(nsPid(replacement)), {
        timeoutMs: 60_000,
        what: 'the replacement ready',
      });
      expect(workersOf(primary).sort()).toEqual([survivor, replacement].sort());
      expect((await fetch(`http://127.0.0.1:${port}/api/ready`)).status).toBe(200);
    });

    // The limit of "no init process is needed": the primary waits only for the workers it forked.
    it('does NOT reap a process it adopted without forking it (an orphan of `docker exec`): a zombie until it exits', async () => {
      const { primary } = pid1;
      const before = new Set(childrenOf(primary));
      // nsenter joins the namespace as `docker exec` does; the subshell exits at once and the kernel
      // hands its `sleep` to PID 1, the primary.
      const exec = new Launched(
        'nsenter',
        ['--target', String(primary), '--pid', '--mount', 'sh', '-c', '(sleep 0.2 &)'],
        '/',
        { PATH: process.env.PATH },
      );
      expect(await exec.exited).toEqual({ code: 0, signal: null });
      const orphan = await waitFor(
        () => childrenOf(primary).find((pid) => !before.has(pid) && statusField(pid, 'Name') === 'sleep'),
        { what: 'the orphan adopted by the primary' },
      );
      await waitFor(() => stateOf(orphan) === 'Z', { timeoutMs: 5000, what: 'the orphan exited' });
      // The same 2 s a killed worker gets to be reaped in.
      await sleep(2000);
      expect(stateOf(orphan)).toBe('Z');
      expect(statusField(orphan, 'PPid')).toBe(String(primary));
    });
  });
});
