import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { Logger } from '@nestjs/common';
import { installProcessGuards } from './bootstrap/process-guards.js';
import { runWorker } from './bootstrap/worker.js';
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
  if (config.server.workers > 1) {
    new Logger('Bootstrap').warn(
      `WORKERS=${config.server.workers}: the multi-worker primary is not built yet; running a single worker`,
    );
  }
  await runWorker(config);
}

main().catch((error: Error) => {
  // The message only: boot failures here are operational (port in use, database unreachable).
  console.error(`Fatal: could not start: ${error.message}`);
  process.exit(1);
});
