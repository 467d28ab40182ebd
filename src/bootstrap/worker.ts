import { Logger } from '@nestjs/common';
import { ChatGateway } from '../chat/chat.gateway.js';
import type { AppConfig } from '../config/app-config.js';
import { PubsubCanary } from '../redis/pubsub-canary.js';
import { createApp } from './create-app.js';
import { exitGracefullyOnSignals } from './graceful-shutdown.js';
import { isStickyWorker, notifyPrimaryDraining, serveThroughPrimary } from './sticky-worker.js';

/**
 * One worker: a full Nest app. Alone (`WORKERS=1`) it listens on PORT itself; forked by the primary it
 * listens privately and the primary routes clients to it sticky by Engine.IO session.
 */
export async function runWorker(config: AppConfig): Promise<void> {
  const logger = new Logger('Bootstrap');
  const app = await createApp(config);
  exitGracefullyOnSignals(app, config.server, notifyPrimaryDraining);
  if (isStickyWorker()) {
    await app.init();
    app.get(PubsubCanary).start(app.get(ChatGateway).namespace);
    await serveThroughPrimary(app.getHttpServer(), app.get(ChatGateway).namespace.server.engine);
    logger.log(`Worker ready behind the primary (pid ${process.pid})`);
    return;
  }
  const { host, port } = config.server;
  await app.listen(port, host);
  app.get(PubsubCanary).start(app.get(ChatGateway).namespace);
  logger.log(`Listening on http://${host}:${port} (pid ${process.pid})`);
}
