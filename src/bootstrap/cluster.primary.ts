/**
 * The primary process for `WORKERS > 1`: no Nest app, no Redis, only routing and supervision.
 *
 * Why not `@socket.io/sticky`: it reads the first bytes of a TCP connection and hands the whole
 * connection to one worker, so a keep-alive client (a browser, a proxy, Node's agent) whose next
 * request on that connection belongs to another session lands on the wrong worker and gets
 * "Session ID unknown" (socket.io-sticky issue 8). Its 2.x workaround answers every request with
 * `Connection: close`, which costs a TCP handshake per long-poll. Here routing is per request:
 *
 * - The primary is an `http.Server`. Each plain HTTP request (Engine.IO long-polling GET/POST, the
 *   REST API, health probes) is proxied on its own to the worker chosen for it, over a keep-alive pool
 *   to the worker's private loopback port. A keep-alive client connection may thus carry requests of
 *   many sessions, each reaching its own worker.
 * - A WebSocket upgrade is routed once (a WebSocket connection carries one session) and the client's
 *   socket itself is handed to the worker over IPC, so WebSocket frames never pass through here.
 * - Routing: a request with a known `sid` goes to the worker holding it; one without (a new session)
 *   to the least loaded worker, counted there at once (see StickyRouter); an unknown sid (its worker
 *   died) to any worker, which answers Engine.IO's 400 "Session ID unknown" so the client reconnects
 *   with a fresh handshake; anything else (health, API) to the least loaded worker.
 * - sid -> worker is learnt without a race: the long-polling handshake answer passes through here and
 *   is read before it is forwarded, so the client cannot send its next request before the primary
 *   knows the sid. Workers report sessions opened over WebSocket and sessions closed over IPC.
 * - Proxied requests reach a worker from 127.0.0.1: the client's address is appended to
 *   X-Forwarded-For. Handed-over WebSocket connections keep the client's real address.
 * - `GET /metrics` is answered here, for the whole pod: every worker's registry, asked over IPC and
 *   labelled by worker, plus the primary's own metrics (see ClusterMetrics).
 * - What a client may cost is bounded here (http-limits.ts, primary-proxy.ts): header and body timeouts,
 *   a connection cap within the descriptor limit, 413 for an Engine.IO body over MAX_FRAME_BYTES.
 *   PROBE_PORT, when set, answers liveness on a port of its own (probe-server.ts).
 *
 * Workers are forked with `child_process.fork` (not `node:cluster`, whose workers would share the
 * primary's listening sockets) into their own process group, so a terminal's Ctrl-C reaches them once,
 * forwarded by the primary, instead of twice. A worker whose primary dies shuts itself down.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Logger } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { readinessWithoutWorker } from '../health/readiness-without-worker.js';
import type { ReadinessReport } from '../health/readiness.service.js';
import { ClusterMetrics } from '../metrics/cluster.metrics.js';
import { limitClientConnections } from './http-limits.js';
import { WorkerProxy, handOverUpgrade, proxyConnectionCap } from './primary-proxy.js';
import { answerWithoutWorker, serveClusterMetrics } from './local-answers.js';
import { closeProbeServer, startProbeServer } from './probe-server.js';
import { isMetricsPath } from './proxy-headers.js';
import { STICKY_WORKER_FLAG, type WorkerMessage, isWorkerMessage } from './sticky-protocol.js';
import { StickyRouter, parseEngineQuery } from './sticky-router.js';

/** Beyond SHUTDOWN_GRACE_MS (the workers' own deadline), how long the primary waits for them to exit. */
const SHUTDOWN_MARGIN_MS = 2_000;
/** A worker that dies sooner than this after it started counts as crashing at boot. */
const QUICK_DEATH_MS = 5_000;
const RESTART_BASE_DELAY_MS = 100;
const RESTART_MAX_DELAY_MS = 10_000;

export interface RunPrimaryOptions {
  /** Script each worker runs. Default: this process's own script (`process.argv[1]`). */
  workerEntry?: string;
  /** Arguments for the workers (`--sticky-worker` is appended). Default: this process's arguments. */
  workerArgs?: string[];
}

interface WorkerProcess {
  /** Never reused: a replacement gets a new id. */
  id: number;
  slot: number;
  child: ChildProcess;
  startedAt: number;
  /** The loopback port the worker reported; set once it is ready. */
  port?: number;
}

/**
 * Runs the primary: listens on PORT, forks `config.server.workers` workers and routes to them sticky
 * by Engine.IO sid, re-forks any that dies (backing off while they crash at boot), and on SIGTERM or
 * SIGINT forwards the signal and exits once they have exited: 0 when all of them exited cleanly, 1 if
 * one failed or they overran SHUTDOWN_GRACE_MS (+2 s). Resolves once listening and the workers are
 * forked (not yet ready: until one is, liveness is answered here and everything else gets 503);
 * rejects if PORT cannot be bound.
 */
export async function runPrimary(config: AppConfig, options: RunPrimaryOptions = {}): Promise<void> {
  await new StickyPrimary(config, options).start();
}

class StickyPrimary {
  private readonly logger = new Logger('Primary');
  private readonly router = new StickyRouter();
  private readonly workers = new Map<number, WorkerProcess>();
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private readonly quickDeaths: number[];
  private readonly server = createServer((req, res) => this.onRequest(req, res));
  private readonly proxy: WorkerProxy;
  /** Liveness on PROBE_PORT, when set. */
  private probe?: Server;
  private readonly workerEntry: string;
  private readonly workerArgs: string[];
  private readonly metrics: ClusterMetrics;
  private nextWorkerId = 1;
  private stopping?: { signal: NodeJS.Signals; failed: boolean };
  /** `/api/ready` while no worker listens; computed once, as the configuration cannot change. */
  private readonly unready: ReadinessReport;

  constructor(
    private readonly config: AppConfig,
    options: RunPrimaryOptions,
  ) {
    this.workerEntry = options.workerEntry ?? process.argv[1];
    this.workerArgs = [
      ...(options.workerArgs ?? process.argv.slice(2)).filter((arg) => arg !== STICKY_WORKER_FLAG),
      STICKY_WORKER_FLAG,
    ];
    this.quickDeaths = new Array<number>(config.server.workers).fill(0);
    this.metrics = new ClusterMetrics(config.server.workers);
    this.unready = readinessWithoutWorker(config);
    const maxConnections = proxyConnectionCap(config.server.maxHttpConnections, config.server.workers);
    limitClientConnections(this.server, maxConnections, this.logger);
    this.proxy = new WorkerProxy(this.logger, maxConnections, config.server.workers);
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket as Socket, head),
    );
  }

  async start(): Promise<void> {
    const { host, port, workers, probePort } = this.config.server;
    // Bind first: a port in use fails the start before any worker is forked.
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.server.on('error', (error) => this.logger.error(`HTTP server error: ${error.message}`));
    if (probePort !== undefined) this.probe = await startProbeServer(host, probePort);
    process.on('SIGTERM', (signal) => this.shutdown(signal));
    process.on('SIGINT', (signal) => this.shutdown(signal));
    for (let slot = 0; slot < workers; slot++) this.fork(slot);
    const bound = (this.server.address() as { port: number }).port;
    this.logger.log(`Primary ${process.pid} listening on http://${host}:${bound} with ${workers} workers`);
  }

  // ---- workers ---------------------------------------------------------------------------------

  private fork(slot: number): void {
    const child = fork(this.workerEntry, this.workerArgs, { detached: true });
    const worker: WorkerProcess = { id: this.nextWorkerId++, slot, child, startedAt: Date.now() };
    this.workers.set(worker.id, worker);
    child.on('message', (message: unknown) => this.onWorkerMessage(worker, message));
    // Failed sends and spawn failures; the 'exit' handler deals with the consequences.
    child.on('error', (error) => this.logger.error(`Worker ${child.pid ?? '?'} error: ${error.message}`));
    child.once('exit', (code, signal) => this.onWorkerExit(worker, code, signal));
  }

  private onWorkerMessage(worker: WorkerProcess, message: unknown): void {
    if (!isWorkerMessage(message)) return;
    const typed: WorkerMessage = message;
    switch (typed.type) {
      case 'sticky:listening':
        worker.port = typed.port;
        this.router.addWorker(worker.id);
        if (this.stopping) this.router.drain(worker.id); // came up after SIGTERM: no new sessions
        this.logger.log(`Worker ${worker.child.pid} ready on 127.0.0.1:${typed.port} (worker #${worker.id})`);
        break;
      case 'sticky:open':
        if (typed.token !== undefined) this.router.confirm(typed.token, typed.sid);
        else this.router.opened(worker.id, typed.sid);
        break;
      case 'sticky:close':
        this.router.closed(worker.id, typed.sid);
        break;
      case 'sticky:release':
        this.router.release(typed.token);
        break;
      case 'sticky:draining':
        this.router.drain(worker.id);
        this.logger.log(`Worker ${worker.child.pid} is draining: no new sessions go to it`);
        break;
      case 'metrics:response':
        this.metrics.received(typed.id, typed.metrics);
        break;
    }
  }

  private onWorkerExit(worker: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    this.workers.delete(worker.id);
    this.router.removeWorker(worker.id);
    const how = signal ?? `code ${code}`;
    if (this.stopping) {
      if (code !== 0 && signal !== this.stopping.signal) this.stopping.failed = true;
      this.logger.log(`Worker ${worker.child.pid} exited (${how})`);
      if (this.workers.size === 0) this.exit(this.stopping.failed ? 1 : 0);
      return;
    }
    const quick = worker.port === undefined || Date.now() - worker.startedAt < QUICK_DEATH_MS;
    this.quickDeaths[worker.slot] = quick ? this.quickDeaths[worker.slot] + 1 : 0;
    const delay = Math.min(RESTART_BASE_DELAY_MS * 2 ** this.quickDeaths[worker.slot], RESTART_MAX_DELAY_MS);
    this.logger.error(`Worker ${worker.child.pid} exited (${how}); starting a replacement in ${delay} ms`);
    this.metrics.workerRestarts.inc();
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      this.fork(worker.slot);
    }, delay);
    this.restartTimers.add(timer);
  }

  private shutdown(signal: NodeJS.Signals): void {
    if (this.stopping) {
      this.logger.warn(`${signal} received again: still waiting for ${this.workers.size} workers`);
      return;
    }
    this.stopping = { signal, failed: false };
    const graceMs = this.config.server.shutdownGraceMs + SHUTDOWN_MARGIN_MS;
    this.logger.log(`${signal} received: stopping ${this.workers.size} workers (within ${graceMs} ms)`);
    for (const timer of this.restartTimers) clearTimeout(timer);
    this.restartTimers.clear();
    // The port stays open while the workers drain: their clients' polling requests and upgrades must
    // still reach them until each worker closes its transports (clients then see `transport close`,
    // not a refused request). New sessions find no worker to go to (503).
    for (const id of this.router.workerIds) this.router.drain(id);
    if (this.workers.size === 0) return this.exit(0);
    for (const { child } of this.workers.values()) child.kill(signal);
    setTimeout(() => {
      this.logger.error(`Workers still running after ${graceMs} ms; killing them`);
      for (const { child } of this.workers.values()) child.kill('SIGKILL');
      this.exit(1);
    }, graceMs).unref();
  }

  private exit(code: number): void {
    this.logger.log(code === 0 ? 'All workers exited; primary exiting' : 'Primary exiting with failures');
    this.proxy.destroy();
    closeProbeServer(this.probe);
    process.exit(code);
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  /**
   * Where a request goes: to the worker holding its Engine.IO session; a new session to the least
   * loaded worker that is not draining, counted there at once (`reservation`, to confirm or release);
   * anything else to the least loaded worker, draining ones too if `includeDraining`.
   */
  private route(
    url: string | undefined,
    includeDraining: boolean,
  ): { worker?: WorkerProcess; reservation?: number } {
    const { engine, sid } = parseEngineQuery(url);
    let workerId = sid === undefined ? undefined : this.router.workerFor(sid);
    let reservation: number | undefined;
    if (workerId === undefined && engine && sid === undefined) {
      const reserved = this.router.reserve();
      workerId = reserved?.workerId;
      reservation = reserved?.reservation;
    } else if (workerId === undefined) {
      workerId = this.router.leastLoaded(includeDraining);
    }
    return { worker: workerId === undefined ? undefined : this.workers.get(workerId), reservation };
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === 'GET' && isMetricsPath(req.url)) {
      const ready = [...this.workers.values()].filter((worker) => worker.port !== undefined);
      return void serveClusterMetrics(res, this.metrics, ready, this.logger);
    }
    // No session to open (health, readiness, an unknown sid): a draining worker still answers.
    const { worker, reservation } = this.route(req.url, true);
    if (worker?.port === undefined) {
      if (reservation !== undefined) this.router.release(reservation);
      return answerWithoutWorker(req, res, this.unready);
    }
    const target = { port: worker.port, pid: worker.child.pid };
    if (reservation === undefined) return this.proxy.forward(req, res, target);
    this.proxy.forward(req, res, target, {
      confirm: (sid) => this.router.confirm(reservation, sid),
      release: () => this.router.release(reservation),
    });
  }

  // ---- WebSocket -------------------------------------------------------------------------------

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const { worker, reservation: token } = this.route(req.url, false);
    if (!worker || worker.port === undefined || !worker.child.connected) {
      if (token !== undefined) this.router.release(token);
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    handOverUpgrade(worker.child, req, socket, head, token, () => {
      if (token !== undefined) this.router.release(token);
      socket.destroy();
    });
  }
}
