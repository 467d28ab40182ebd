import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { installProcessGuards } from './bootstrap/process-guards.js';
import { exitWhenPrimaryGoes, isStickyWorker } from './cluster/sticky-worker.js';
import { loadConfigOrExit } from './config/load-config.js';
import { jsonLogger } from './logging/json-logger.js';

async function main(): Promise<void> {
  // First: every Logger of this process (the primary's, which has no Nest app, included) writes JSON.
  Logger.overrideLogger(jsonLogger());
  installProcessGuards();
  // Before anything slow: a worker whose primary dies while it boots must not live on as an orphan.
  if (isStickyWorker()) exitWhenPrimaryGoes();
  const config = loadConfigOrExit();
  // Imported on demand: the primary never loads the Nest application, only the router.
  if (config.server.workers > 1 && !isStickyWorker()) {
    const { runPrimary } = await import('./cluster/primary.js');
    await runPrimary(config);
    return;
  }
  const { runWorker } = await import('./bootstrap/worker.js');
  await runWorker(config);
}

main().catch((error: Error) => {
  // The message only: boot failures here are operational (port in use, database unreachable).
  jsonLogger().fatal(`Fatal: could not start: ${error.message}`, 'Bootstrap');
  process.exit(1);
});
