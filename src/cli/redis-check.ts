import 'reflect-metadata';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import type { RedisClient } from '../redis/redis-client.factory.js';
import { checkKey, sessionKey } from '../redis/redis-keys.js';
import {
  closeTool,
  connectTool,
  loadRedisConfigOrExit,
  messageOf,
  randomId,
  roundMs,
  secretScrubber,
  targetOf,
} from './redis-tools/connection.js';
import { describeLatencyVerdict, latencyVerdict, measure } from './redis-tools/latency.js';

const USAGE = 'usage: npm run redis:check [-- --json]';
/** Throwaway keys outlive a killed check by at most this long. */
const THROWAWAY_TTL_SECONDS = 30;
const PINGS = 100;

interface TestResult {
  name: string;
  ok: boolean;
  /** Not run because an earlier step failed (counts as a failure). */
  skipped?: boolean;
  detail: string;
  meanMs?: number;
  maxMs?: number;
}

type Step = (
  client: RedisClient,
) => Promise<{ ok: boolean; detail: string; meanMs?: number; maxMs?: number }>;

/**
 * `npm run redis:check [-- --json]`: connection, PING, SET/GET/DEL on a throwaway key, the session
 * pattern and PING latency, with the service's configuration and only its ACL user's commands (never
 * CONFIG or KEYS). Exit 1 if any test fails; never prints the password.
 */
async function main(): Promise<number> {
  let json: boolean;
  try {
    const { values } = parseArgs({
      options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    json = values.json;
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 1;
  }
  const config = loadRedisConfigOrExit('redis:check');
  const scrub = secretScrubber(config);
  const id = randomId();
  const key = checkKey(config.keyPrefix, id);
  const value = `redis:check ${id}`;
  const session = sessionKey(config.keyPrefix, `check-${id}`);
  const sessionFields = {
    userId: 'redis-check',
    name: 'redis:check',
    pid: String(process.pid),
    instance: hostname(),
    connectedAt: new Date().toISOString(),
    conversations: '[]',
  };

  const steps: [string, Step][] = [
    [
      'PING',
      async (client) => {
        const answer = await client.ping();
        return { ok: answer === 'PONG', detail: `answered ${answer}` };
      },
    ],
    [
      'SET',
      async (client) => {
        const answer = await client.set(key, value, 'EX', THROWAWAY_TTL_SECONDS);
        return { ok: answer === 'OK', detail: `${key} (TTL ${THROWAWAY_TTL_SECONDS} s): ${answer}` };
      },
    ],
    [
      'GET',
      async (client) => {
        const read = await client.get(key);
        return {
          ok: read === value,
          detail: read === value ? 'value read back' : `read ${JSON.stringify(read)}`,
        };
      },
    ],
    [
      'DEL',
      async (client) => {
        const deleted = await client.del(key);
        return { ok: deleted === 1, detail: `${deleted} key deleted` };
      },
    ],
    [
      'session HSET+EXPIRE',
      async (client) => {
        await client.multi().hset(session, sessionFields).expire(session, THROWAWAY_TTL_SECONDS).exec();
        const ttl = await client.ttl(session);
        const ok = ttl > 0 && ttl <= THROWAWAY_TTL_SECONDS;
        return { ok, detail: `${session}, TTL ${ttl} s` };
      },
    ],
    [
      'session HGETALL',
      async (client) => {
        const hash = await client.hgetall(session);
        const fields = Object.keys(sessionFields) as (keyof typeof sessionFields)[];
        const wrong = fields.filter((field) => hash[field] !== sessionFields[field]);
        return {
          ok: wrong.length === 0,
          detail:
            wrong.length === 0 ? `${fields.length} fields read back` : `wrong fields: ${wrong.join(', ')}`,
        };
      },
    ],
    [
      'session DEL',
      async (client) => {
        const deleted = await client.del(session);
        return { ok: deleted === 1, detail: `${deleted} key deleted` };
      },
    ],
    [
      'latency',
      async (client) => {
        const { meanMs, maxMs } = await measure(PINGS, () => client.ping());
        const verdict = latencyVerdict(meanMs);
        return {
          ok: verdict !== 'too slow',
          detail:
            `${PINGS} PINGs: mean ${roundMs(meanMs)} ms, max ${roundMs(maxMs)} ms: ` +
            describeLatencyVerdict(verdict),
          meanMs: roundMs(meanMs),
          maxMs: roundMs(maxMs),
        };
      },
    ],
  ];

  const tests: TestResult[] = [];
  let client: RedisClient | undefined;
  const connectStarted = performance.now();
  try {
    client = await connectTool(config, 'command', 'redis-check', scrub);
    tests.push({
      name: 'connect',
      ok: true,
      detail: `ready in ${roundMs(performance.now() - connectStarted)} ms`,
    });
  } catch (error) {
    tests.push({ name: 'connect', ok: false, detail: messageOf(error, scrub) });
  }
  try {
    for (const [name, step] of steps) {
      if (!client) {
        tests.push({ name, ok: false, skipped: true, detail: 'skipped: not connected' });
        continue;
      }
      try {
        tests.push({ name, ...(await step(client)) });
      } catch (error) {
        tests.push({ name, ok: false, detail: messageOf(error, scrub) });
      }
    }
  } finally {
    // Best effort, one key per DEL (a cluster refuses a DEL across slots); the keys expire anyway.
    const open = client;
    if (open?.status === 'ready') await Promise.all([key, session].map((k) => open.del(k).catch(() => 0)));
    await closeTool(client);
  }

  const ok = tests.every((test) => test.ok);
  const target = targetOf(config);
  if (json) {
    console.log(JSON.stringify({ ok, target, mode: config.mode, prefix: config.keyPrefix, tests }));
  } else {
    console.log(`redis:check ${target} (${config.mode}, prefix ${config.keyPrefix})`);
    const width = Math.max(...tests.map((test) => test.name.length));
    for (const test of tests) {
      const mark = test.ok ? '✔' : test.skipped ? '-' : '✘';
      console.log(`${mark} ${test.name.padEnd(width)}  ${test.detail}`);
    }
    const failed = tests.filter((test) => !test.ok && !test.skipped).length;
    const skipped = tests.filter((test) => test.skipped).length;
    console.log(
      ok
        ? `All ${tests.length} tests passed.`
        : `FAILED: ${failed} failed${skipped ? `, ${skipped} skipped` : ''} of ${tests.length}.`,
    );
  }
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    // Only the message: an ioredis error object carries the arguments of its command.
    console.error(`redis:check failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
