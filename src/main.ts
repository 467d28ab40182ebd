import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { installProcessGuards } from './bootstrap/process-guards.js';
import { isStickyWorker } from './bootstrap/sticky-worker.js';
import { type AppConfig, ConfigValidationError, loadConfig } from './config/index.js';

/** Validates the environment (and `.env`, whose values never override real variables) or exits 1. */
function configOrExit(): AppConfig {
  if (existsSync('.env')) process.loadEnvFile('.env');
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigValidationError)) throw error;
    for (const problem of error.problems) console.error(`Invalid configuration: ${problem}`);
    process.exit(1);
  }
}

async function main(): Promise<void> {
  installProcessGuards();
  const config = configOrExit();
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
