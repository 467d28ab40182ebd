import { type ChildProcess, fork } from 'node:child_process';
import type { Logger } from '@nestjs/common';
import { STICKY_WORKER_FLAG, type WorkerMessage, isWorkerMessage } from './sticky-protocol.js';

/** Beyond SHUTDOWN_GRACE_MS (the workers' own deadline), how long the primary waits for them to exit. */
export const SHUTDOWN_MARGIN_MS = 2_000;
/** A worker that dies sooner than this after it started counts as crashing at boot. */
const QUICK_DEATH_MS = 5_000;
const RESTART_BASE_DELAY_MS = 100;
const RESTART_MAX_DELAY_MS = 10_000;

export interface WorkerProcess {
  /** Never reused: a replacement gets a new id. */
  id: number;
  slot: number;
  child: ChildProcess;
  startedAt: number;
  /** The loopback port the worker reported; set once it is ready. */
  port?: number;
}

interface SupervisorOptions {
  count: number;
  /** Script each worker runs, and its arguments (`--sticky-worker` is appended). */
  entry: string;
  args: string[];
  logger: Logger;
  /** Each message a worker sends (`sticky:listening` has set `worker.port` already). */
  onMessage(worker: WorkerProcess, message: WorkerMessage): void;
  /** A worker exited (a replacement follows unless stopping). */
  onExit(worker: WorkerProcess): void;
  /** A replacement was scheduled after a crash. */
  onRestart(): void;
}

/**
 * Forks workers with `child_process.fork` (not `node:cluster`, which shares listening sockets) into their
 * own process group, so Ctrl-C reaches them once; re-forks with backoff while one crashes at boot.
 */
export class WorkerSupervisor {
  private readonly workers = new Map<number, WorkerProcess>();
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private readonly quickDeaths: number[];
  private readonly args: string[];
  private nextWorkerId = 1;
  private stopping?: { signal: NodeJS.Signals; failed: boolean; done(code: number): void };

  constructor(private readonly options: SupervisorOptions) {
    this.quickDeaths = new Array<number>(options.count).fill(0);
    this.args = [...options.args.filter((arg) => arg !== STICKY_WORKER_FLAG), STICKY_WORKER_FLAG];
  }

  get size(): number {
    return this.workers.size;
  }

  get(id: number): WorkerProcess | undefined {
    return this.workers.get(id);
  }

  /** Workers that reported their port. */
  ready(): WorkerProcess[] {
    return [...this.workers.values()].filter((worker) => worker.port !== undefined);
  }

  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  start(): void {
    for (let slot = 0; slot < this.options.count; slot++) this.fork(slot);
  }

  /** Forwards `signal`; `done(0)` once all exited cleanly, else `done(1)` (overrunning `graceMs`: killed). */
  stop(signal: NodeJS.Signals, graceMs: number, done: (code: number) => void): void {
    const { logger } = this.options;
    if (this.stopping) {
      logger.warn(`${signal} received again: still waiting for ${this.workers.size} workers`);
      return;
    }
    this.stopping = { signal, failed: false, done };
    logger.log(`${signal} received: stopping ${this.workers.size} workers (within ${graceMs} ms)`);
    for (const timer of this.restartTimers) clearTimeout(timer);
    this.restartTimers.clear();
    if (this.workers.size === 0) return done(0);
    for (const { child } of this.workers.values()) child.kill(signal);
    setTimeout(() => {
      logger.error(`Workers still running after ${graceMs} ms; killing them`);
      for (const { child } of this.workers.values()) child.kill('SIGKILL');
      done(1);
    }, graceMs).unref();
  }

  private fork(slot: number): void {
    const child = fork(this.options.entry, this.args, { detached: true });
    const worker: WorkerProcess = { id: this.nextWorkerId++, slot, child, startedAt: Date.now() };
    this.workers.set(worker.id, worker);
    child.on('message', (message: unknown) => {
      if (!isWorkerMessage(message)) return;
      if (message.type === 'sticky:listening') worker.port = message.port;
      this.options.onMessage(worker, message);
    });
    // Failed sends and spawn failures; the 'exit' handler deals with the consequences.
    child.on('error', (error) =>
      this.options.logger.error(`Worker ${child.pid ?? '?'} error: ${error.message}`),
    );
    child.once('exit', (code, signal) => this.onExit(worker, code, signal));
  }

  private onExit(worker: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    this.workers.delete(worker.id);
    this.options.onExit(worker);
    const how = signal ?? `code ${code}`;
    if (this.stopping) {
      if (code !== 0 && signal !== this.stopping.signal) this.stopping.failed = true;
      this.options.logger.log(`Worker ${worker.child.pid} exited (${how})`);
      if (this.workers.size === 0) this.stopping.done(this.stopping.failed ? 1 : 0);
      return;
    }
    const quick = worker.port === undefined || Date.now() - worker.startedAt < QUICK_DEATH_MS;
    this.quickDeaths[worker.slot] = quick ? this.quickDeaths[worker.slot] + 1 : 0;
    const delay = Math.min(RESTART_BASE_DELAY_MS * 2 ** this.quickDeaths[worker.slot], RESTART_MAX_DELAY_MS);
    this.options.logger.error(
      `Worker ${worker.child.pid} exited (${how}); starting a replacement in ${delay} ms`,
    );
    this.options.onRestart();
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      this.fork(worker.slot);
    }, delay);
    this.restartTimers.add(timer);
  }
}
