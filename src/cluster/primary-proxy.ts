import { Agent, type IncomingMessage, type ServerResponse, request as httpRequest } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import type { Logger } from '@nestjs/common';
import { MAX_FRAME_BYTES } from '../common/frame-limit.js';
import { connectionCap } from '../common/http-limits.js';
import { parseEngineQuery, parseHandshakeSid } from './sticky-router.js';
import { requestHeaders, responseHeaders } from './proxy-headers.js';

/** Handshake answers are a few hundred bytes; anything longer is forwarded unread. */
const MAX_HANDSHAKE_BYTES = 16 * 1024;
/** Idle keep-alive connections kept per worker for reuse (Node's default maxFreeSockets). */
const IDLE_SOCKETS_PER_WORKER = 256;

/** Upstream descriptors the pool keeps even with no request in flight: its idle sockets. */
function idleUpstreamSockets(workers: number): number {
  return IDLE_SOCKETS_PER_WORKER * workers;
}

/** The client connection cap within the descriptor limit: two per proxied request, plus the idle pool. */
export function proxyConnectionCap(requested: number | undefined, workers: number): number {
  return connectionCap(requested, { perConnection: 2, fixed: idleUpstreamSockets(workers) });
}

/** A new session's reservation in the router: confirmed with the handshake's sid, or released. */
interface Reservation {
  confirm(sid: string): void;
  release(): void;
}

/** Where a request goes: a ready worker's loopback port. */
interface ProxyTarget {
  port: number;
  pid: number | undefined;
}

/** Forwards plain HTTP to workers over a keep-alive pool sized so no client waits, plus the idle sockets. */
export class WorkerProxy {
  private readonly agent: Agent;

  constructor(
    private readonly logger: Logger,
    maxConnections: number,
    workers: number,
  ) {
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: maxConnections,
      maxFreeSockets: IDLE_SOCKETS_PER_WORKER,
      maxTotalSockets: maxConnections + idleUpstreamSockets(workers),
    });
  }

  destroy(): void {
    this.agent.destroy();
  }

  /**
   * Proxies `req` to `target`; an Engine.IO body over MAX_FRAME_BYTES gets 413 and never reaches the worker.
   * With a `reservation`, the handshake answer is read here to learn the sid before it is forwarded.
   */
  forward(req: IncomingMessage, res: ServerResponse, target: ProxyTarget, reservation?: Reservation): void {
    const release = () => reservation?.release();
    const engine = parseEngineQuery(req.url).engine;
    if (engine && Number(req.headers['content-length'] ?? 0) > MAX_FRAME_BYTES) {
      release();
      return refuseTooLarge(res);
    }
    const headers = requestHeaders(req);
    // The handshake answer is read here; keep it uncompressed.
    if (reservation) delete headers['accept-encoding'];
    const upstream = httpRequest({
      host: '127.0.0.1',
      port: target.port,
      method: req.method,
      path: req.url,
      headers,
      agent: this.agent,
    });
    let refused = false;

    upstream.on('response', (answer) => {
      // An answer cut off (the worker died) cuts the client's response short too, so the client sees it.
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
      if (!reservation || status !== 200) {
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
        if (sid) reservation.confirm(sid);
        else release();
        forward(body);
      });
    });

    upstream.on('error', (error) => {
      release();
      if (refused) return; // destroyed here on purpose; the client has its 413
      if (res.headersSent || res.destroyed) return void res.destroy();
      this.logger.warn(`Worker ${target.pid ?? '?'} failed a request: ${error.message}`);
      res.writeHead(502, { 'content-type': 'text/plain', connection: 'close' }).end('Bad gateway\n');
    });

    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.on('error', () => upstream.destroy());
    if (!engine || req.headers['transfer-encoding'] === undefined) return void req.pipe(upstream);
    // A body of unannounced length is counted on its way: past the limit, the worker's request is dropped.
    const limit = new BodyLimit(MAX_FRAME_BYTES, () => {
      refused = true;
      req.unpipe(limit);
      upstream.destroy();
      release();
      if (res.headersSent) res.destroy();
      else refuseTooLarge(res);
    });
    req.pipe(limit).pipe(upstream);
  }
}

/** 413 with `Connection: close`, so the client gets the answer and sends nothing more. */
function refuseTooLarge(res: ServerResponse): void {
  res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end('Payload too large\n');
}

/** Passes a body through until it exceeds `maxBytes`; then calls `onExceeded` once and passes nothing. */
class BodyLimit extends Transform {
  private received = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly onExceeded: () => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const before = this.received;
    this.received += chunk.length;
    if (this.received <= this.maxBytes) return done(null, chunk);
    if (before <= this.maxBytes) this.onExceeded();
    done();
  }
}
