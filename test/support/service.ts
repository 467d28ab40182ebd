import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { assertNoLeaks, registerSecret, registerUrlPassword } from './log-audit.js';
import { freePort, waitFor } from './ports.js';

const MAIN = resolve(process.cwd(), 'dist/main.js');
const running = new Set<ServiceProcess>();
/** Not audited yet: `stop()` audits its service, `stopAllServices()` the rest (self-exited ones too). */
const unaudited = new Set<ServiceProcess>();
/** How long an audit waits after the exit for the rest of the output (forked workers may hold the pipes). */
const OUTPUT_DRAIN_MS = 1000;

export interface HttpAnswer<T = unknown> {
  status: number;
  body: T;
  elapsedMs: number;
}

/**
 * The built service (`dist/main.js`, which boots through `createApp`) as a child process on a free port,
 * with its own temporary STORAGE_DIR and SQLite file. The environment is exactly what the test gives
 * on top of those defaults: nothing leaks in from the developer's shell. `stopAllServices()` in
 * `afterAll` (or process exit) kills whatever a test left running.
 *
 * Log audit: the secrets in the environment are registered (see log-audit.ts), and the output is
 * checked for every registered secret when the service stops: `stop()` throws on a leak, failing the
 * test that owns the service.
 */
export class ServiceProcess {
  readonly child: ChildProcess;
  /** Everything the process printed, stdout and stderr interleaved. */
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once stdout and stderr are closed: `output` is complete. */
  private readonly closed: Promise<void>;

  private readonly workerCount: number;

  private constructor(
    readonly port: number,
    readonly dataDir: string,
    env: Record<string, string>,
  ) {
    this.workerCount = env.WORKERS === 'auto' ? availableParallelism() : Number(env.WORKERS ?? 1);
    this.child = spawn(process.execPath, [MAIN], {
      cwd: dataDir,
      env: { PATH: process.env.PATH ?? '', HOME: dataDir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolveExit) =>
      this.child.once('exit', (code, signal) => {
        running.delete(this);
        resolveExit({ code, signal });
      }),
    );
    this.closed = new Promise((resolveClose) => this.child.once('close', () => resolveClose()));
    running.add(this);
    unaudited.add(this);
  }

  /** Starts the service; does not wait for it (see `ready()` and `exited`). */
  static async launch(env: Record<string, string> = {}): Promise<ServiceProcess> {
    const port = env.PORT ? Number(env.PORT) : await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'chat-e2e-'));
    if (env.REDIS_URL) registerUrlPassword('Redis password', env.REDIS_URL);
    if (env.DATABASE_URL?.startsWith('postgres'))
      registerUrlPassword('PostgreSQL password', env.DATABASE_URL);
    registerSecret('JWT secret', env.JWT_SECRET);
    return new ServiceProcess(port, dataDir, {
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      STORAGE_DIR: join(dataDir, 'storage'),
      DATABASE_URL: `sqlite:${join(dataDir, 'chat.db')}`,
      // A port nothing listens on, so no test ever talks to a real Ollama by accident.
      OLLAMA_URL: 'http://127.0.0.1:9',
      ...env,
    });
  }

  /** Launches and waits until `/api/health` answers (with WORKERS > 1, and a worker is ready). */
  static async start(env: Record<string, string> = {}): Promise<ServiceProcess> {
    const service = await ServiceProcess.launch(env);
    await service.waitForHealth();
    return service;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async waitForHealth(timeoutMs = 60_000): Promise<void> {
    await waitFor(
      async () => {
        if (!this.alive) throw new Error(`service exited early:\n${this.output}`);
        if ((await this.get('/api/health')).status !== 200) return false;
        // With WORKERS > 1 the primary answers liveness itself, before any worker listens.
        return this.workerCount <= 1 || this.workerPorts().size > 0;
      },
      { timeoutMs, intervalMs: 100, what: `the service on port ${this.port}` },
    );
  }

  async get<T = unknown>(path: string): Promise<HttpAnswer<T>> {
    const started = performance.now();
    const response = await fetch(`${this.baseUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
    const text = await response.text();
    const body = (text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text) as T;
    return { status: response.status, body, elapsedMs: performance.now() - started };
  }

  /**
   * With WORKERS > 1: each worker's pid and private loopback port (a test can reach one worker
   * directly, bypassing the primary), from the primary's "Worker <pid> ready on" lines.
   */
  workerPorts(): Map<number, number> {
    return new Map(
      [...this.output.matchAll(/Worker (\d+) ready on 127\.0\.0\.1:(\d+)/g)].map(([, pid, port]) => [
        Number(pid),
        Number(port),
      ]),
    );
  }

  /** Resolves once the output contains `pattern` (or rejects after `timeoutMs`). */
  async waitForOutput(pattern: RegExp, timeoutMs = 10_000): Promise<void> {
    await waitFor(() => pattern.test(this.output), { timeoutMs, intervalMs: 50, what: `output ${pattern}` });
  }

  /** Sends `signal`, waits for the exit, then audits the output (throws if it holds a secret). */
  async stop(
    signal: NodeJS.Signals = 'SIGTERM',
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.alive) this.child.kill(signal);
    const result = await this.exited;
    rmSync(this.dataDir, { recursive: true, force: true });
    await this.audit();
    return result;
  }

  /** Loads the documents of `folder` into this service's database with `npm run ingest`'s CLI. */
  ingest(folder: string): void {
    const result = spawnSync(process.execPath, [resolve(process.cwd(), 'dist/cli/ingest.js'), folder], {
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: `sqlite:${join(this.dataDir, 'chat.db')}`,
        STORAGE_DIR: join(this.dataDir, 'storage'),
      },
      encoding: 'utf8',
    });
    if (result.status !== 0) throw new Error(`ingest failed: ${result.stderr}`);
  }

  /** Checks the whole output against the log audit's secrets, once per service. */
  async audit(): Promise<void> {
    if (!unaudited.delete(this)) return;
    // Unref'd: a pipe held open by an orphaned worker must not keep Jest's worker alive either.
    const drained = new Promise<void>((resolveDrain) => setTimeout(resolveDrain, OUTPUT_DRAIN_MS).unref());
    await Promise.race([this.closed, drained]);
    assertNoLeaks(this.output, `the service on port ${this.port} (pid ${this.child.pid})`);
  }
}

/** Kills every service still running and audits every output not audited yet; throws all leaks found. */
export async function stopAllServices(): Promise<void> {
  const results = await Promise.allSettled([
    ...[...running].map((service) => service.stop('SIGKILL')),
    ...[...unaudited].filter((service) => !running.has(service)).map((service) => service.audit()),
  ]);
  const failures = results.flatMap((result) =>
    result.status === 'rejected' ? [result.reason as Error] : [],
  );
  if (failures.length > 0) throw new Error(failures.map((failure) => failure.message).join('\n'));
}

process.once('exit', () => {
  for (const service of running) service.child.kill('SIGKILL');
});
