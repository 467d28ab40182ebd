import { type ChildProcess, spawn } from 'node:child_process';
import { request, Agent } from 'node:http';
import type { Socket } from 'node:net';
import { resolve } from 'node:path';
import { freePort, waitFor } from './ports.js';

/** Runs `runPrimary` from dist/ with fixture workers (see sticky-fixture.mjs). */
export const STICKY_FIXTURE = resolve(process.cwd(), 'test/support/sticky-fixture.mjs');
/** The same fixture worker routed by @socket.io/sticky, for comparison. */
export const LEGACY_STICKY_FIXTURE = resolve(process.cwd(), 'test/support/sticky-legacy.fixture.mjs');

const running = new Set<StickyPrimaryProcess>();
/** Worker pids seen in any fixture's output: workers run in their own process group, kill them too. */
const workerPids = new Set<number>();

export class StickyPrimaryProcess {
  readonly child: ChildProcess;
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly port: number,
    script: string,
    env: Record<string, string>,
  ) {
    this.child = spawn(process.execPath, [script], {
      env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', PORT: String(port), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (chunk: Buffer) => {
      this.output += chunk.toString();
      for (const [, pid] of this.output.matchAll(/Worker (\d+) ready/g)) workerPids.add(Number(pid));
    };
    this.child.stdout?.on('data', collect);
    this.child.stderr?.on('data', collect);
    this.exited = new Promise((resolveExit) =>
      this.child.once('exit', (code, signal) => {
        running.delete(this);
        resolveExit({ code, signal });
      }),
    );
    running.add(this);
  }

  static async launch(
    env: Record<string, string> = {},
    script = STICKY_FIXTURE,
  ): Promise<StickyPrimaryProcess> {
    return new StickyPrimaryProcess(await freePort(), script, env);
  }

  /** Launches with `workers` workers and waits until all of them are ready. */
  static async start(workers: number, env: Record<string, string> = {}): Promise<StickyPrimaryProcess> {
    const primary = await StickyPrimaryProcess.launch({ WORKERS: String(workers), ...env });
    await primary.waitForOutput(/listening on http/);
    await waitFor(() => primary.readyWorkerPids().length >= workers, {
      timeoutMs: 20_000,
      what: `${workers} workers ready:\n${primary.output}`,
    });
    return primary;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Pids of every worker that reported ready, in order (replacements included). */
  readyWorkerPids(): number[] {
    return [...this.output.matchAll(/Worker (\d+) ready/g)].map(([, pid]) => Number(pid));
  }

  async waitForOutput(pattern: RegExp, timeoutMs = 15_000): Promise<void> {
    await waitFor(
      () => {
        if (!this.alive && !pattern.test(this.output)) throw new Error(`exited early:\n${this.output}`);
        return pattern.test(this.output);
      },
      { timeoutMs, intervalMs: 50, what: `output ${pattern}` },
    );
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM') {
    if (this.alive) this.child.kill(signal);
    return this.exited;
  }
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function stopAllStickyPrimaries(): Promise<void> {
  await Promise.all([...running].map((primary) => primary.stop('SIGKILL')));
  killStrayWorkers();
}

function killStrayWorkers(): void {
  for (const pid of workerPids) {
    if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  }
}

process.once('exit', () => {
  for (const primary of running) primary.child.kill('SIGKILL');
  killStrayWorkers();
});

export interface RawAnswer {
  status: number;
  /** The `x-worker-pid` header the fixture worker sets. */
  pid: number;
  body: string;
  socket: Socket;
}

/** One request on `agent` (raw node:http, so the test controls and sees the TCP connection used). */
export function rawRequest(
  agent: Agent,
  port: number,
  method: string,
  path: string,
  body?: string,
): Promise<RawAnswer> {
  return new Promise((resolveAnswer, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        headers: body === undefined ? {} : { 'content-type': 'text/plain;charset=UTF-8' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolveAnswer({
            status: res.statusCode ?? 0,
            pid: Number(res.headers['x-worker-pid']),
            body: text,
            socket: req.socket as Socket,
          }),
        );
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}
