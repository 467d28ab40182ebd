import { Cluster, type Redis } from 'ioredis';
import type { RedisConfig } from '../../config/app-config.js';
import type { RedisClient } from '../../redis/redis-client.factory.js';
import { countAdapterSubscribers, keyNodes, scanEach } from '../../redis/redis-scan.js';
import { CANARY_TIMEOUT_MS } from '../../redis/pubsub-canary.js';
import {
  checkKey,
  sessionPattern,
  toolCanaryChannel,
  type WorkerRecord,
  workerPattern,
} from '../../redis/redis-keys.js';
import {
  closeTool,
  ConnectFailure,
  connectTool,
  isPermissionError,
  messageOf,
  randomId,
  roundMs,
  STEP_TIMEOUT_MS,
  targetOf,
  withTimeout,
} from './connection.js';
import { LATENCY_LIMIT_MS, measure } from './latency.js';

export type Verdict = 'HEALTHY' | 'DEGRADED' | 'UNHEALTHY';

/** Exit code of `redis:health` without --watch. DEGRADED is neither success nor outage: its own code. */
export const EXIT_CODES: Record<Verdict, number> = { HEALTHY: 0, UNHEALTHY: 1, DEGRADED: 2 };

/** DEGRADED above this share of maxmemory (and of maxclients). */
const FULL_RATIO = 0.9;
/** DEGRADED when a worker's last canary is older than this (it should run every few seconds). */
const CANARY_STALE_SECONDS = 60;
const LATENCY_SAMPLES = 5;

export interface ServerStats {
  version: string;
  uptimeSeconds: number;
  connectedClients: number;
  /** From INFO clients (CONFIG is not needed, nor allowed). */
  maxClients: number | null;
  blockedClients: number;
  opsPerSec: number;
  /** Largest client output buffer seen lately: a subscriber falling behind shows here first. */
  largestOutputBufferBytes: number;
  evictedKeys: number;
  rejectedConnections: number;
  /** Masters the figures add up (1 unless cluster). */
  nodes: number;
}

export interface MemoryStats {
  usedBytes: number;
  peakBytes: number;
  /** 0: no limit. */
  maxmemoryBytes: number;
  policy: string | null;
  /** The fullest node's use of its maxmemory, in %; null without a limit. */
  usedPercentOfMax: number | null;
}

export interface WorkerEntry {
  key: string;
  pid: number | null;
  instance: string;
  startedAt: string | null;
  canaryOk: boolean | null;
  canaryRttMs: number | null;
  canaryAt: string | null;
  /** Seconds since canaryAt, by this tool's clock. */
  canaryAgeSeconds: number | null;
}

export interface HealthSample {
  timestamp: string;
  target: string;
  mode: RedisConfig['mode'];
  prefix: string;
  verdict: Verdict;
  /** Why the verdict is not HEALTHY (empty when it is). */
  reasons: string[];
  /** Worth knowing, not a verdict: items the server refused to show, settings to look at. */
  notes: string[];
  connected: boolean;
  server: ServerStats | null;
  memory: MemoryStats | null;
  sessions: number | null;
  workers: { expected: number | null; subscribed: number | null; registry: WorkerEntry[] };
  canary: { ok: boolean; rttMs: number | null; detail: string } | null;
  latencyMs: { ping: number | null; get: number | null; set: number | null };
  /** Item → why it could not be read (e.g. INFO or PUBSUB refused by the ACL). */
  unavailable: Record<string, string>;
}

export function parseInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (!line || line.startsWith('#')) continue;
    const separator = line.indexOf(':');
    if (separator > 0) fields[line.slice(0, separator)] = line.slice(separator + 1);
  }
  return fields;
}

const num = (value: string | undefined): number => (value === undefined ? 0 : Number(value) || 0);

/** Sums the masters' INFO into one view (a single server is just the one). */
function summarizeInfo(infos: Record<string, string>[]): { server: ServerStats; memory: MemoryStats } {
  const sum = (field: string) => infos.reduce((total, info) => total + num(info[field]), 0);
  const maxClients = infos.every((info) => info.maxclients !== undefined)
    ? Math.min(...infos.map((info) => num(info.maxclients)))
    : null;
  const limited = infos.filter((info) => num(info.maxmemory) > 0);
  const fullest = limited.length
    ? Math.max(...limited.map((info) => (num(info.used_memory) / num(info.maxmemory)) * 100))
    : null;
  return {
    server: {
      version: infos[0].redis_version ?? 'unknown',
      uptimeSeconds: Math.min(...infos.map((info) => num(info.uptime_in_seconds))),
      connectedClients: sum('connected_clients'),
      maxClients: maxClients === null ? null : maxClients * infos.length,
      blockedClients: sum('blocked_clients'),
      opsPerSec: sum('instantaneous_ops_per_sec'),
      largestOutputBufferBytes: Math.max(...infos.map((info) => num(info.client_recent_max_output_buffer))),
      evictedKeys: sum('evicted_keys'),
      rejectedConnections: sum('rejected_connections'),
      nodes: infos.length,
    },
    memory: {
      usedBytes: sum('used_memory'),
      peakBytes: sum('used_memory_peak'),
      maxmemoryBytes: limited.length === infos.length ? sum('maxmemory') : 0,
      policy: infos[0].maxmemory_policy ?? null,
      usedPercentOfMax: fullest === null ? null : Math.round(fullest * 10) / 10,
    },
  };
}

function toWorkerEntry(key: string, hash: Partial<WorkerRecord>, now: number): WorkerEntry {
  const canaryAtMs = hash.canaryAt ? Date.parse(hash.canaryAt) : NaN;
  const rtt = hash.canaryRttMs ? Number(hash.canaryRttMs) : NaN;
  return {
    key,
    pid: hash.pid && Number.isFinite(Number(hash.pid)) ? Number(hash.pid) : null,
    instance: hash.instance ?? '',
    startedAt: hash.startedAt || null,
    canaryOk: hash.canaryOk === '1' ? true : hash.canaryOk === '0' ? false : null,
    canaryRttMs: Number.isFinite(rtt) ? rtt : null,
    canaryAt: hash.canaryAt || null,
    canaryAgeSeconds: Number.isFinite(canaryAtMs) ? Math.max(0, Math.round((now - canaryAtMs) / 1000)) : null,
  };
}

function workerName(worker: WorkerEntry): string {
  return `${worker.instance || '?'}:${worker.pid ?? '?'}`;
}

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

/** A pub/sub round trip on the tool's own connection (the workers' canary uses the adapter's). */
async function canaryRoundTrip(
  config: RedisConfig,
  publisher: RedisClient,
  subscriber: RedisClient,
  scrub: (text: string) => string,
  sample: HealthSample,
  unhealthy: string[],
): Promise<HealthSample['canary']> {
  const sharded = config.mode === 'cluster';
  const channel = toolCanaryChannel(config.keyPrefix, randomId());
  const token = randomId();
  let onMessage: ((from: string, message: string) => void) | undefined;
  const arrived = new Promise<number>((resolve) => {
    onMessage = (from, message) => {
      if (from === channel && message === token) resolve(performance.now());
    };
    subscriber.on(sharded ? 'smessage' : 'message', onMessage);
  });
  try {
    await withTimeout(
      sharded ? subscriber.ssubscribe(channel) : subscriber.subscribe(channel),
      STEP_TIMEOUT_MS,
      'SUBSCRIBE',
    );
    const sent = performance.now();
    await (sharded ? publisher.spublish(channel, token) : publisher.publish(channel, token));
    const rttMs = roundMs((await withTimeout(arrived, CANARY_TIMEOUT_MS, 'the canary')) - sent);
    return { ok: true, rttMs, detail: `round trip ${rttMs} ms on ${channel}` };
  } catch (error) {
    const message = messageOf(error, scrub);
    if (isPermissionError(error)) {
      sample.unavailable.canary = message;
      return { ok: false, rttMs: null, detail: `unavailable: ${message}` };
    }
    unhealthy.push(`pub/sub canary failed: ${message}`);
    return { ok: false, rttMs: null, detail: message };
  } finally {
    if (onMessage) subscriber.off(sharded ? 'smessage' : 'message', onMessage);
  }
}
