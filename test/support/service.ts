import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, waitFor } from './ports.js';

const MAIN = resolve(process.cwd(), 'dist/main.js');
const running = new Set<ServiceProcess>();

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
 */
export class ServiceProcess {
  readonly child: ChildProcess;
  /** Everything the process printed, stdout and stderr interleaved. */
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly port: number,
    readonly dataDir: string,
    env: Record<string, string>,
  ) {
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
    running.add(this);
  }

  /** Starts the service; does not wait for it (see `ready()` and `exited`). */
  static async launch(env: Record<string, string> = {}): Promise<ServiceProcess> {
    const port = env.PORT ? Number(env.PORT) : await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'chat-e2e-'));
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

  /** Launches and waits until `/api/health` answers. */
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
        return (await this.get('/api/health')).status === 200;
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

  /** Resolves once the output contains `pattern` (or rejects after `timeoutMs`). */
  async waitForOutput(pattern: RegExp, timeoutMs = 10_000): Promise<void> {
    await waitFor(() => pattern.test(this.output), { timeoutMs, intervalMs: 50, what: `output ${pattern}` });
  }

  /** Sends `signal` and waits for the exit. */
  async stop(
    signal: NodeJS.Signals = 'SIGTERM',
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.alive) this.child.kill(signal);
    const result = await this.exited;
    rmSync(this.dataDir, { recursive: true, force: true });
    return result;
  }
}

export async function stopAllServices(): Promise<void> {
  await Promise.all([...running].map((service) => service.stop('SIGKILL')));
}

process.once('exit', () => {
  for (const service of running) service.child.kill('SIGKILL');
});
