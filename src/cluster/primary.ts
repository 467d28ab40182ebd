/**
 * The primary for `WORKERS > 1`: no Nest app, no Redis; routes per request, sticky by Engine.IO sid
 * (docs/decisions/0001-sticky-routing-per-request.md), and supervises the workers.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Logger } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { readinessWithoutWorker } from '../health/readiness-without-worker.js';
import type { ReadinessReport } from '../health/readiness-report.js';
import { ClusterMetrics } from './cluster.metrics.js';
import { limitClientConnections } from '../common/http-limits.js';
import { WorkerProxy, proxyConnectionCap } from './primary-proxy.js';
import { handOverUpgrade } from './upgrade-handoff.js';
import { answerWithoutWorker, serveClusterMetrics } from './local-answers.js';
import { answerJson, isRead } from '../common/plain-http.js';
import { StartupGate } from './startup-gate.js';
import { closeProbeServer, startProbeServer } from '../common/probe-server.js';
import { isMetricsPath } from './proxy-headers.js';
import type { WorkerMessage } from './sticky-protocol.js';
import { StickyRouter, parseEngineQuery } from './sticky-router.js';
import { SHUTDOWN_MARGIN_MS, type WorkerProcess, WorkerSupervisor } from './worker-supervisor.js';

export interface RunPrimaryOptions {
  /** Script each worker runs. Default: this process's own script (`process.argv[1]`). */
  workerEntry?: string;
  /** Arguments for the workers (`--sticky-worker` is appended). Default: this process's arguments. */
  workerArgs?: string[];
}

/**
 * Listens on PORT, forks and supervises the workers, routes to them; on SIGTERM or SIGINT exits once
 * they have: 0 if all exited cleanly, 1 if one failed or they overran SHUTDOWN_GRACE_MS (+2 s). Resolves
 * once listening and forked; rejects if PORT cannot be bound.
 */
export async function runPrimary(config: AppConfig, options: RunPrimaryOptions = {}): Promise<void> {
  await new StickyPrimary(config, options).start();
}

class StickyPrimary {
  private readonly logger = new Logger('Primary');
  private readonly router = new StickyRouter();
  private readonly server = createServer((req, res) => this.onRequest(req, res));
  private readonly proxy: WorkerProxy;
  private readonly workers: WorkerSupervisor;
  private probe?: Server;
  private readonly metrics: ClusterMetrics;
  /** `/api/ready` while no worker listens; computed once, as the configuration cannot change. */
  private readonly unready: ReadinessReport;
  private readonly startup: StartupGate;

  constructor(
    private readonly config: AppConfig,
    options: RunPrimaryOptions,
  ) {
    this.metrics = new ClusterMetrics(config.server.workers);
    this.unready = readinessWithoutWorker(config);
    this.startup = new StartupGate(config.server.workers);
    this.workers = new WorkerSupervisor({
      count: config.server.workers,
      entry: options.workerEntry ?? process.argv[1],
      args: options.workerArgs ?? process.argv.slice(2),
      logger: this.logger,
      onMessage: (worker, message) => this.onWorkerMessage(worker, message),
      onExit: (worker) => this.router.removeWorker(worker.id),
      onRestart: () => this.metrics.workerRestarts.inc(),
    });
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
    this.workers.start();
    const bound = (this.server.address() as { port: number }).port;
    this.logger.log(`Primary ${process.pid} listening on http://${host}:${bound} with ${workers} workers`);
  }

  private onWorkerMessage(worker: WorkerProcess, message: WorkerMessage): void {
    switch (message.type) {
      case 'sticky:listening':
        this.router.addWorker(worker.id);
        this.startup.booted(worker.slot);
        if (this.workers.isStopping) this.router.drain(worker.id); // came up after SIGTERM: no new sessions
        this.logger.log(
          `Worker ${worker.child.pid} ready on 127.0.0.1:${message.port} (worker #${worker.id})`,
        );
        break;
      case 'sticky:open':
        if (message.token !== undefined) this.router.confirm(message.token, message.sid);
        else this.router.opened(worker.id, message.sid);
        break;
      case 'sticky:close':
        this.router.closed(worker.id, message.sid);
        break;
      case 'sticky:release':
        this.router.release(message.token);
        break;
      case 'sticky:draining':
        this.router.drain(worker.id);
        this.logger.log(`Worker ${worker.child.pid} is draining: no new sessions go to it`);
        break;
      case 'metrics:response':
        this.metrics.received(message.id, message.metrics);
        break;
    }
  }

  /** PORT stays open while the workers drain, so their clients still reach them. */
  private shutdown(signal: NodeJS.Signals): void {
    if (!this.workers.isStopping) for (const id of this.router.workerIds) this.router.drain(id);
    const graceMs = this.config.server.shutdownGraceMs + SHUTDOWN_MARGIN_MS;
    this.workers.stop(signal, graceMs, (code) => this.exit(code));
  }

  private exit(code: number): void {
    this.logger.log(code === 0 ? 'All workers exited; primary exiting' : 'Primary exiting with failures');
    this.proxy.destroy();
    closeProbeServer(this.probe);
    process.exit(code);
  }

  /**
   * The worker holding the request's session; for a new session the least loaded non-draining one, with a
   * `reservation` to confirm or release; else the least loaded (draining too if `includeDraining`).
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
      return void serveClusterMetrics(res, this.metrics, this.workers.ready(), this.logger);
    }
    if (!this.startup.isOpen && isRead(req, '/api/ready')) {
      return answerJson(req, res, 503, readinessWithoutWorker(this.config, this.startup.waitingFor));
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
