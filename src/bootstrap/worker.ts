import { Logger } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { createApp } from './create-app.js';
import { exitGracefullyOnSignals } from './graceful-shutdown.js';

/** One worker: a full Nest app listening on its own port. */
export async function runWorker(config: AppConfig): Promise<void> {
  const app = await createApp(config);
  exitGracefullyOnSignals(app, config.server.shutdownGraceMs);
  const { host, port } = config.server;
  await app.listen(port, host);
  new Logger('Bootstrap').log(`Listening on http://${host}:${port} (pid ${process.pid})`);
}
