import 'reflect-metadata';
import { installProcessGuards } from './bootstrap/process-guards.js';
import { isStickyWorker } from './bootstrap/sticky-worker.js';
import { loadConfigOrExit } from './config/load-config.js';

async function main(): Promise<void> {
  installProcessGuards();
  const config = loadConfigOrExit();
  // Imported on demand: the primary never loads the Nest application, only the router.
  if (config.server.workers > 1 && !isStickyWorker()) {
    const { runPrimary } = await import('./bootstrap/cluster.primary.js');
    await runPrimary(config);
    return;
  }
  const { runWorker } = await import('./bootstrap/worker.js');
  await runWorker(config);
}

main().catch((error: Error) => {
  // The message only: boot failures here are operational (port in use, database unreachable).
  console.error(`Fatal: could not start: ${error.message}`);
  process.exit(1);
});
