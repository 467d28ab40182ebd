import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { Logger } from '@nestjs/common';
import {
  STICKY_WORKER_FLAG,
  type UpgradeMessage,
  type WorkerMessage,
  isUpgradeMessage,
} from './sticky-protocol.js';

/** The part of Engine.IO's server (`io.engine`) the worker side needs. */
export interface StickyEngine {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Engine.IO's own listener signatures
  on(event: string, fn: (...args: any[]) => void): void;
  clientsCount: number;
}

/** The fields of an Engine.IO socket read here. */
interface EngineSocket {
  id: string;
  request?: { socket?: unknown };
  once(event: 'close', fn: () => void): void;
}

/** A worker forked by `runPrimary`: told by the flag the primary adds, not the inherited environment. */
export function isStickyWorker(): boolean {
  return process.argv.includes(STICKY_WORKER_FLAG) && typeof process.send === 'function';
}

/** How long a worker lives on once its primary is gone, drain included (contract: within 5 s). */
const ORPHAN_EXIT_MS = 4000;

/**
 * Call first thing in a forked worker: once the primary is gone (its IPC channel closes, whatever killed
 * it, even during this worker's boot) the worker drains if it can and exits within ORPHAN_EXIT_MS. Workers
 * run in process groups of their own, so no signal of the primary's reaches them.
 */
export function exitWhenPrimaryGoes(): void {
  const leave = () => {
    new Logger('StickyWorker').warn('The primary went away; shutting down');
    setTimeout(() => process.exit(1), ORPHAN_EXIT_MS).unref();
    // Booted, the graceful handler drains; still booting, no handler is installed and SIGTERM ends it.
    process.kill(process.pid, 'SIGTERM');
  };
  if (!process.connected) return leave();
  process.once('disconnect', leave);
}

/** Tells the primary this worker is draining (no new sessions); a no-op when not behind one. */
export function notifyPrimaryDraining(): void {
  if (isStickyWorker() && process.connected)
    process.send!({ type: 'sticky:draining' }, undefined, {}, () => undefined);
}

/**
 * Serves `httpServer` behind the primary on a loopback port (call after `app.init()`); resolves once the
 * primary knows the port.
 */
export async function serveThroughPrimary(httpServer: HttpServer, engine: StickyEngine): Promise<void> {
  if (!isStickyWorker()) throw new Error('serveThroughPrimary: this process was not forked by runPrimary');
  if (httpServer.listening) throw new Error('serveThroughPrimary: the HTTP server must not listen yet');
  const send = (message: WorkerMessage) => {
    // A failed send means the primary is gone; the 'disconnect' handler below takes over.
    if (process.connected) process.send!(message, undefined, {}, () => undefined);
  };

  // Tokens of upgrades handed over without a sid: each answered once, by its session or its release.
  const pendingUpgrades = new Map<unknown, number>();
  const settleUpgrade = (socket: unknown, sid?: string) => {
    const token = pendingUpgrades.get(socket);
    if (token === undefined) return undefined;
    pendingUpgrades.delete(socket);
    if (!sid) send({ type: 'sticky:release', token });
    return token;
  };

  engine.on('connection', (socket: EngineSocket) => {
    const token = settleUpgrade(socket.request?.socket, socket.id);
    send({ type: 'sticky:open', sid: socket.id, token });
    socket.once('close', () => send({ type: 'sticky:close', sid: socket.id }));
  });
  engine.on('connection_error', (error: { req?: { socket?: unknown } }) => settleUpgrade(error.req?.socket));

  // Other primary messages (metrics requests) are answered by the app's MetricsModule.
  process.on('message', (message: unknown, handle: unknown) => {
    if (!isUpgradeMessage(message)) return;
    acceptUpgrade(message, handle as Socket | undefined);
  });

  const acceptUpgrade = (message: UpgradeMessage, socket: Socket | undefined) => {
    if (!socket) {
      // The client went away while its socket was in transit.
      if (message.token !== undefined) send({ type: 'sticky:release', token: message.token });
      return;
    }
    if (message.token !== undefined) {
      pendingUpgrades.set(socket, message.token);
      socket.once('close', () => settleUpgrade(socket));
    }
    // The primary parsed this request already: hand over the connection, then replay its bytes.
    httpServer.emit('connection', socket);
    socket.emit('data', Buffer.from(message.head, 'base64'));
    socket.resume();
  };

  // Longer than the primary's pool keeps idle connections, so it never reuses one closing here.
  httpServer.keepAliveTimeout = 65_000;
  httpServer.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(0, '127.0.0.1', () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const { port } = httpServer.address() as { port: number };
  send({ type: 'sticky:listening', port });
}
