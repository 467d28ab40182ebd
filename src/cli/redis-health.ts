import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { loadRedisConfigOrExit, secretScrubber } from './redis-tools/connection.js';
import { collectSample } from './redis-tools/health.js';
import { EXIT_CODES } from './redis-tools/health-sample.js';
import { renderSample } from './redis-tools/health-report.js';

const USAGE = 'usage: npm run redis:health [-- --watch [--interval S]] [--json]';
const DEFAULT_INTERVAL_SECONDS = 5;
const CLEAR_SCREEN = '\x1b[2J\x1b[H';

/**
 * `npm run redis:health [-- --watch [--interval S]] [--json]`: figures and a verdict (rules in
 * ./redis-tools/health.ts). Exit 0 HEALTHY, 2 DEGRADED, 1 UNHEALTHY or usage error; `--watch` samples
 * every S seconds (default 5) until a signal, then exits 0.
 */
async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        watch: { type: 'boolean', default: false },
        interval: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 1;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const intervalSeconds = values.interval === undefined ? DEFAULT_INTERVAL_SECONDS : Number(values.interval);
  if (!Number.isFinite(intervalSeconds) || intervalSeconds < 0.1 || (values.interval && !values.watch)) {
    console.error(`--interval takes a number of seconds (>= 0.1), with --watch\n${USAGE}`);
    return 1;
  }
  const config = loadRedisConfigOrExit('redis:health');
  const scrub = secretScrubber(config);
  const print = (sample: Awaited<ReturnType<typeof collectSample>>) => {
    if (values.json) console.log(JSON.stringify(sample));
    else console.log(`${values.watch && process.stdout.isTTY ? CLEAR_SCREEN : ''}${renderSample(sample)}`);
  };

  if (!values.watch) {
    const sample = await collectSample(config, scrub);
    print(sample);
    return EXIT_CODES[sample.verdict];
  }

  // Watch: a signal ends the wait at once; a sample in flight finishes first (each step is bounded).
  let stopping = false;
  let wake: () => void = () => undefined;
  const stop = () => {
    if (stopping) process.exit(0); // a second signal: do not wait for the sample in flight
    stopping = true;
    wake();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  while (!stopping) {
    print(await collectSample(config, scrub));
    if (stopping) break;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, intervalSeconds * 1000);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    // Only the message: an ioredis error object carries the arguments of its command.
    console.error(`redis:health failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
