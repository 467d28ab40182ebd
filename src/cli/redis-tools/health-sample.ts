import type { RedisConfig } from '../../config/app-config.js';
import type { WorkerRecord } from '../../redis/redis-keys.js';

export type Verdict = 'HEALTHY' | 'DEGRADED' | 'UNHEALTHY';

/** Exit code of `redis:health` without --watch. DEGRADED is neither success nor outage: its own code. */
export const EXIT_CODES: Record<Verdict, number> = { HEALTHY: 0, UNHEALTHY: 1, DEGRADED: 2 };

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
export function summarizeInfo(infos: Record<string, string>[]): { server: ServerStats; memory: MemoryStats } {
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

export function toWorkerEntry(key: string, hash: Partial<WorkerRecord>, now: number): WorkerEntry {
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

export function workerName(worker: WorkerEntry): string {
  return `${worker.instance || '?'}:${worker.pid ?? '?'}`;
}
