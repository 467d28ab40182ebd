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
 *
 * Workers are forked with `child_process.fork` (not `node:cluster`, whose workers would share the
 * primary's listening sockets) into their own process group, so a terminal's Ctrl-C reaches them once,
 * forwarded by the primary, instead of twice. A worker whose primary dies shuts itself down.
 */
import { type ChildProcess, fork } from 'node:child_process';
import {
  Agent,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
  createServer,
  request as httpRequest,
} from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Logger } from '@nestjs/common';
import { Registry } from 'prom-client';
import type { AppConfig } from '../config/app-config.js';
import { readinessWithoutWorker } from '../health/readiness-without-worker.js';
import type { ReadinessReport } from '../health/readiness.service.js';
import { ClusterMetrics } from '../metrics/cluster.metrics.js';
import {
  STICKY_WORKER_FLAG,
  type UpgradeMessage,
  type WorkerMessage,
  isWorkerMessage,
} from './sticky-protocol.js';
import { StickyRouter, parseEngineQuery, parseHandshakeSid } from './sticky-router.js';

/** Beyond SHUTDOWN_GRACE_MS (the workers' own deadline), how long the primary waits for them to exit. */
const SHUTDOWN_MARGIN_MS = 2_000;
/** A worker that dies sooner than this after it started counts as crashing at boot. */
const QUICK_DEATH_MS = 5_000;
const RESTART_BASE_DELAY_MS = 100;
const RESTART_MAX_DELAY_MS = 10_000;
/** Handshake answers are a few hundred bytes; anything longer is forwarded unread. */
const MAX_HANDSHAKE_BYTES = 16 * 1024;

/** Headers that describe one hop, not the message (RFC 9110 §7.6.1), plus `expect`, answered here. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

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
  private readonly agent = new Agent({ keepAlive: true });
  private readonly server = createServer((req, res) => this.onRequest(req, res));
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
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket as Socket, head),
    );
  }

  async start(): Promise<void> {
    const { host, port, workers } = this.config.server;
    // Bind first: a port in use fails the start before any worker is forked.
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.server.on('error', (error) => this.logger.error(`HTTP server error: ${error.message}`));
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
    this.agent.destroy();
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
    if (req.method === 'GET' && isMetricsPath(req.url)) return void this.serveMetrics(res);
    // No session to open (health, readiness, an unknown sid): a draining worker still answers.
    const { worker, reservation } = this.route(req.url, true);
    if (worker?.port === undefined) {
      if (reservation !== undefined) this.router.release(reservation);
      return void this.answerWithoutWorker(req, res);
    }
    this.proxy(req, res, worker, reservation);
  }

  /**
   * No worker listens (start-up, or all of them restarting). Liveness is this process's own: 200, as the
   * contract has it ("no dependency is checked"), so a worker that cannot start because its database is
   * down leaves the pod unready instead of getting it restarted in a loop. Readiness: the contract's
   * 503 JSON. Anything else: a plain 503 with Retry-After.
   */
  private answerWithoutWorker(req: IncomingMessage, res: ServerResponse): void {
    // Express (the workers) ignores a trailing slash and answers HEAD like GET: so does this.
    const path = pathOf(req.url)?.replace(/\/$/, '');
    const read = req.method === 'GET' || req.method === 'HEAD';
    const json = (status: number, body: unknown): void =>
      void res
        .writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
        .end(req.method === 'HEAD' ? undefined : JSON.stringify(body));
    if (read && path === '/api/health') return json(200, { status: 'ok' });
    if (read && path === '/api/ready') return json(503, this.unready);
    res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end('No worker is ready\n');
  }

  private proxy(
    req: IncomingMessage,
    res: ServerResponse,
    worker: WorkerProcess,
    reservation?: number,
  ): void {
    const release = () => {
      if (reservation !== undefined) this.router.release(reservation);
    };
    const headers = requestHeaders(req);
    // The handshake answer is read here; keep it uncompressed.
    if (reservation !== undefined) delete headers['accept-encoding'];
    const upstream = httpRequest({
      host: '127.0.0.1',
      port: worker.port,
      method: req.method,
      path: req.url,
      headers,
      agent: this.agent,
    });

    upstream.on('response', (answer) => {
      // An answer cut off (the worker died mid-way) closes incomplete: cut the client's response short
      // too, so the client sees the failure. Its 'error' event says the same thing again.
      answer.on('error', () => undefined);
      answer.on('close', () => {
        release();
        if (!answer.complete) res.destroy();
      });
      const status = answer.statusCode ?? 502;
      const forward = (body?: Buffer) => {
        if (res.destroyed) return;
        res.writeHead(status, answer.statusMessage, responseHeaders(answer));
        if (body) res.end(body);
        else answer.pipe(res);
      };
      if (reservation === undefined || status !== 200) {
        release();
        return forward();
      }
      const chunks: Buffer[] = [];
      let size = 0;
      answer.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
      });
      answer.on('end', () => {
        const body = Buffer.concat(chunks, size);
        const sid = size <= MAX_HANDSHAKE_BYTES ? parseHandshakeSid(body.toString('utf8')) : undefined;
        if (sid) this.router.confirm(reservation, sid);
        else release();
        forward(body);
      });
    });

    upstream.on('error', (error) => {
      release();
      if (res.headersSent || res.destroyed) return void res.destroy();
      this.logger.warn(`Worker ${worker.child.pid} failed a request: ${error.message}`);
      res.writeHead(502, { 'content-type': 'text/plain', connection: 'close' }).end('Bad gateway\n');
    });

    // The client went away (a long-poll closed, a reset): stop the worker's side of it too.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.on('error', () => upstream.destroy());
    req.pipe(upstream);
  }

  private async serveMetrics(res: ServerResponse): Promise<void> {
    const ready = [...this.workers.values()].filter((worker) => worker.port !== undefined);
    try {
      const text = await this.metrics.render(ready);
      res.writeHead(200, { 'content-type': Registry.PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' });
      res.end(text);
    } catch (error) {
      this.logger.error(`Metrics failed: ${(error as Error).message}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('Metrics failed\n');
    }
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
    // Until the worker acknowledges the handle, this process keeps its own copy of the descriptor open,
    // and Node keeps reading it into a no-op: a frame the client sends right after the worker's 101
    // (Engine.IO's upgrade probe) could be read here and lost (it was, about once in 250 upgrades).
    // So: take what was read already (read() only when something is buffered, as it restarts reading),
    // then stop reading; later bytes wait in the kernel for the worker.
    const buffered = socket.readableLength > 0 ? (socket.read() as Buffer | null) : null;
    if (buffered) head = Buffer.concat([head, buffered]);
    stopReading(socket);
    const message: UpgradeMessage = { type: 'sticky:upgrade', head: rawRequest(req, head), token };
    const failed = () => {
      if (token !== undefined) this.router.release(token);
      socket.destroy();
    };
    try {
      worker.child.send(message, socket, { keepOpen: false }, (error) => {
        if (error) failed();
      });
    } catch {
      // The socket closed before it could be sent (no handle left to send).
      failed();
    }
  }
}

/** A request URL's path, without its query. */
function pathOf(url: string | undefined): string | undefined {
  return url?.split('?', 1)[0];
}

function isMetricsPath(url: string | undefined): boolean {
  return pathOf(url) === '/metrics';
}

/**
 * Stops the kernel-level reads of a socket (libuv `readStop`). `socket.pause()` does not: it only stops
 * emitting, and Node goes on reading into the stream's buffer.
 */
function stopReading(socket: Socket): void {
  const handle = (socket as unknown as { _handle?: { reading?: boolean; readStop?: () => number } })._handle;
  if (!handle?.readStop) return;
  handle.reading = false;
  handle.readStop();
}

/** The client's headers minus hop-by-hop ones, with the client's address appended to X-Forwarded-For. */
function requestHeaders(req: IncomingMessage): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  const named = connectionTokens(req.headers.connection);
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && !named.has(name)) headers[name] = value;
  }
  const client = req.socket.remoteAddress;
  if (client) {
    const previous = req.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = previous ? `${String(previous)}, ${client}` : client;
  }
  return headers;
}

/** The worker's response headers, raw (names and repeats as sent) minus hop-by-hop ones. */
function responseHeaders(answer: IncomingMessage): string[] {
  const named = connectionTokens(answer.headers.connection);
  const kept: string[] = [];
  for (let i = 0; i < answer.rawHeaders.length; i += 2) {
    const name = answer.rawHeaders[i].toLowerCase();
    if (!HOP_BY_HOP.has(name) && !named.has(name)) kept.push(answer.rawHeaders[i], answer.rawHeaders[i + 1]);
  }
  return kept;
}

function connectionTokens(header: IncomingHttpHeaders['connection']): Set<string> {
  return new Set((header ?? '').split(',').map((token) => token.trim().toLowerCase()));
}

/** The request as it came off the wire (line, headers, bytes read past them), for the worker to parse. */
function rawRequest(req: IncomingMessage, head: Buffer): string {
  let text = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    text += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
  // Header bytes were decoded as latin1 by the parser: encoding back as latin1 restores them exactly.
  return Buffer.concat([Buffer.from(`${text}\r\n`, 'latin1'), head]).toString('base64');
}
