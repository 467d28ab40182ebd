import type { Server } from 'node:http';
import { Logger } from '@nestjs/common';
import { ChatEmitter } from '../chat/chat-emitter.js';
import type { AppConfig } from '../config/app-config.js';
import { createApp } from './create-app.js';
import { exitGracefullyOnSignals } from './graceful-shutdown.js';
import { connectionCap, limitClientConnections } from '../common/http-limits.js';
import { closeProbeServer, startProbeServer } from '../common/probe-server.js';
import { isStickyWorker, notifyPrimaryDraining, serveThroughPrimary } from '../cluster/sticky-worker.js';

/** A worker: alone (`WORKERS=1`) it owns PORT and PROBE_PORT; forked, it listens behind the primary. */
export async function runWorker(config: AppConfig): Promise<void> {
  const logger = new Logger('Bootstrap');
  const app = await createApp(config);
  exitGracefullyOnSignals(app, config.server, notifyPrimaryDraining);
  if (isStickyWorker()) {
    await app.init();
    await serveThroughPrimary(app.getHttpServer(), app.get(ChatEmitter).namespace.server.engine);
    logger.log(`Worker ready behind the primary (pid ${process.pid})`);
    return;
  }
  const { host, port, probePort, maxHttpConnections } = config.server;
  // Alone, this process owns PORT: the client limits the primary applies otherwise apply here.
  const httpServer = app.getHttpServer() as Server;
  limitClientConnections(httpServer, connectionCap(maxHttpConnections, { perConnection: 1 }), logger);
  await app.listen(port, host);
  logger.log(`Listening on http://${host}:${port} (pid ${process.pid})`);
  if (probePort === undefined) return;
  // Liveness stays on until the app closes its own server at shutdown.
  const probe = await startProbeServer(host, probePort);
  httpServer.once('close', () => closeProbeServer(probe));
}
