import { Cluster, type Redis } from 'ioredis';
import type { RedisConfig } from '../../config/app-config.js';
import type { RedisClient } from '../../redis/redis-client.factory.js';
import { countAdapterSubscribers, keyNodes, scanEach } from '../../redis/redis-scan.js';
import { checkKey, sessionPattern, type WorkerRecord, workerPattern } from '../../redis/redis-keys.js';
import {
  closeTool,
  ConnectFailure,
  connectTool,
  isPermissionError,
  messageOf,
  randomId,
  roundMs,
  targetOf,
} from './connection.js';
import { LATENCY_LIMIT_MS, measure } from './latency.js';
import { type HealthSample, parseInfo, summarizeInfo, toWorkerEntry, workerName } from './health-sample.js';
import { canaryRoundTrip } from './pubsub-round-trip.js';

/** DEGRADED above this share of maxmemory (and of maxclients). */
const FULL_RATIO = 0.9;
/** DEGRADED when a worker's last canary is older than this (it should run every few seconds). */
const CANARY_STALE_SECONDS = 60;
const LATENCY_SAMPLES = 5;

/** The nodes that answer PUBSUB for the sharded channel: every node, as the sharded adapter counts. */
function pubsubNodes(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('all') : [client];
}

/**
 * One health sample; never throws. UNHEALTHY: unreachable, auth refused, PING fails, or the canary does
 * not come back. DEGRADED: memory or clients above 90 %, fewer subscribers than registered workers, a
 * worker's canary failed or older than 60 s, a mean round trip of 20 ms or more, or GET/SET failing.
 * Items the ACL refuses are reported unavailable, not judged.
 */
export async function collectSample(
  config: RedisConfig,
  scrub: (text: string) => string,
): Promise<HealthSample> {
  const unhealthy: string[] = [];
  const degraded: string[] = [];
  const notes: string[] = [];
  const sample: HealthSample = {
    timestamp: new Date().toISOString(),
    target: targetOf(config),
    mode: config.mode,
    prefix: config.keyPrefix,
    verdict: 'HEALTHY',
    reasons: [],
    notes,
    connected: false,
    server: null,
    memory: null,
    sessions: null,
    workers: { expected: null, subscribed: null, registry: [] },
    canary: null,
    latencyMs: { ping: null, get: null, set: null },
    unavailable: {},
  };
  /** Runs one item; a refusal by the server marks it unavailable, anything else goes to `onError`. */
  const item = async (name: string, read: () => Promise<void>, onError: (message: string) => void) => {
    try {
      await read();
    } catch (error) {
      if (isPermissionError(error)) sample.unavailable[name] = messageOf(error, scrub);
      else onError(messageOf(error, scrub));
    }
  };

  let command: RedisClient | undefined;
  let subscriber: RedisClient | undefined;
  try {
    try {
      command = await connectTool(config, 'command', 'redis-health', scrub);
      sample.connected = true;
    } catch (error) {
      const message = messageOf(error, scrub);
      unhealthy.push(
        error instanceof ConnectFailure && error.kind === 'auth' ? message : `unreachable: ${message}`,
      );
      return sample;
    }
    const client = command;

    await item(
      'ping',
      async () => {
        const { meanMs } = await measure(LATENCY_SAMPLES, () => client.ping());
        sample.latencyMs.ping = roundMs(meanMs);
      },
      (message) => unhealthy.push(`PING fails: ${message}`),
    );

    const key = checkKey(config.keyPrefix, `health-${randomId()}`);
    await item(
      'set/get',
      async () => {
        sample.latencyMs.set = roundMs(
          (await measure(LATENCY_SAMPLES, () => client.set(key, 'redis:health', 'EX', 30))).meanMs,
        );
        sample.latencyMs.get = roundMs((await measure(LATENCY_SAMPLES, () => client.get(key))).meanMs);
      },
      (message) => degraded.push(`SET/GET fail: ${message}`),
    );
    await client.del(key).catch(() => undefined);
    const slow = (['ping', 'get', 'set'] as const).filter(
      (op) => (sample.latencyMs[op] ?? 0) >= LATENCY_LIMIT_MS,
    );
    if (slow.length)
      degraded.push(
        `high latency: ${slow.map((op) => `${op.toUpperCase()} ${sample.latencyMs[op]} ms`).join(', ')} ` +
          `(mean of ${LATENCY_SAMPLES}, limit ${LATENCY_LIMIT_MS} ms)`,
      );

    await item(
      'info',
      async () => {
        const infos = await Promise.all(keyNodes(client).map(async (node) => parseInfo(await node.info())));
        const { server, memory } = summarizeInfo(infos);
        sample.server = server;
        sample.memory = memory;
        if (memory.usedPercentOfMax !== null && memory.usedPercentOfMax > FULL_RATIO * 100)
          degraded.push(`memory at ${memory.usedPercentOfMax}% of maxmemory (limit ${FULL_RATIO * 100}%)`);
        if (memory.maxmemoryBytes === 0)
          notes.push(
            'no maxmemory set: Redis may grow until the host runs out of memory (see config/redis.conf)',
          );
        if (server.maxClients && server.connectedClients > FULL_RATIO * server.maxClients)
          degraded.push(`${server.connectedClients} clients of maxclients ${server.maxClients}`);
      },
      (message) => (sample.unavailable.info = message),
    );

    await item(
      'sessions',
      async () => {
        let count = 0;
        await scanEach(client, sessionPattern(config.keyPrefix), (keys) => {
          count += keys.length;
        });
        sample.sessions = count;
      },
      (message) => (sample.unavailable.sessions = message),
    );

    await item(
      'workers',
      async () => {
        const keys: string[] = [];
        await scanEach(client, workerPattern(config.keyPrefix), (batch) => {
          keys.push(...batch);
        });
        const now = Date.now();
        const entries = await Promise.all(
          keys.map(async (workerKey) => ({
            workerKey,
            hash: (await client.hgetall(workerKey)) as Partial<WorkerRecord>,
          })),
        );
        sample.workers.registry = entries
          // An entry may expire between SCAN and HGETALL.
          .filter(({ hash }) => Object.keys(hash).length > 0)
          .map(({ workerKey, hash }) => toWorkerEntry(workerKey, hash, now))
          .sort((a, b) => a.key.localeCompare(b.key));
        sample.workers.expected = sample.workers.registry.length;
        for (const worker of sample.workers.registry) {
          if (worker.canaryOk === false)
            degraded.push(`worker ${workerName(worker)} reports its canary failing`);
          else if (worker.canaryAgeSeconds !== null && worker.canaryAgeSeconds > CANARY_STALE_SECONDS)
            degraded.push(`worker ${workerName(worker)}'s last canary is ${worker.canaryAgeSeconds} s old`);
        }
      },
      (message) => (sample.unavailable.workers = message),
    );

    await item(
      'pubsub',
      async () => {
        sample.workers.subscribed = await countAdapterSubscribers(
          client,
          config.keyPrefix,
          pubsubNodes(client),
        );
      },
      (message) => (sample.unavailable.pubsub = message),
    );
    const { expected, subscribed } = sample.workers;
    if (expected !== null && subscribed !== null) {
      if (expected === 0)
        notes.push('no worker registry entries: the service is down, or does not write its registry');
      else if (subscribed < expected)
        degraded.push(`${subscribed} of ${expected} registered workers subscribed to the adapter's channel`);
    }

    try {
      subscriber = await connectTool(config, 'subscriber', 'redis-health', scrub);
    } catch (error) {
      unhealthy.push(`pub/sub connection failed: ${messageOf(error, scrub)}`);
    }
    if (subscriber)
      sample.canary = await canaryRoundTrip(config, client, subscriber, scrub, sample, unhealthy);
  } finally {
    await Promise.all([closeTool(command), closeTool(subscriber)]);
    for (const [name, why] of Object.entries(sample.unavailable)) notes.push(`${name} unavailable: ${why}`);
    sample.reasons = [...unhealthy, ...degraded];
    sample.verdict = unhealthy.length ? 'UNHEALTHY' : degraded.length ? 'DEGRADED' : 'HEALTHY';
  }
  return sample;
}
