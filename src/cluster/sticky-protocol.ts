/** The IPC messages between the primary and its workers (JSON over the fork channel). */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

/** Added by `runPrimary` to a worker's arguments; `isStickyWorker()` looks for it. */
export const STICKY_WORKER_FLAG = '--sticky-worker';

/** Primary -> worker, with the client's socket as the handle: a WebSocket upgrade to take over. */
export interface UpgradeMessage {
  type: 'sticky:upgrade';
  /** The request line, headers and any bytes read past them, base64. */
  head: string;
  /** Set when the request had no sid: the primary counted a new session on this worker. */
  token?: number;
}

/** Primary -> worker: answer with a `metrics:response` of the same id (the primary serves `/metrics`). */
export interface MetricsRequestMessage {
  type: 'metrics:request';
  id: number;
}

/** A worker's Prometheus registry, as `Registry.getMetricsAsJSON()` returns it. */
export type WorkerMetrics = MetricObjectWithValues<MetricValue<string>>[];

export type WorkerMessage =
  /** The worker's HTTP server listens on this loopback port: it is ready for traffic. */
  | { type: 'sticky:listening'; port: number }
  /** An Engine.IO session opened; `token` when it came from an upgrade handed over without a sid. */
  | { type: 'sticky:open'; sid: string; token?: number }
  | { type: 'sticky:close'; sid: string }
  /** The worker began draining (SIGTERM): route no new session to it. */
  | { type: 'sticky:draining' }
  /** A handed-over upgrade without a sid opened no session. */
  | { type: 'sticky:release'; token: number }
  | { type: 'metrics:response'; id: number; metrics: WorkerMetrics };

export function isUpgradeMessage(message: unknown): message is UpgradeMessage {
  const candidate = message as Partial<UpgradeMessage> | null;
  return (
    typeof candidate === 'object' &&
    candidate?.type === 'sticky:upgrade' &&
    typeof candidate.head === 'string'
  );
}

export function isMetricsRequest(message: unknown): message is MetricsRequestMessage {
  const candidate = message as Partial<MetricsRequestMessage> | null;
  return (
    typeof candidate === 'object' && candidate?.type === 'metrics:request' && Number.isInteger(candidate.id)
  );
}

export function isWorkerMessage(message: unknown): message is WorkerMessage {
  const candidate = message as {
    type?: unknown;
    sid?: unknown;
    port?: unknown;
    token?: unknown;
    id?: unknown;
    metrics?: unknown;
  } | null;
  if (typeof candidate !== 'object' || candidate === null) return false;
  switch (candidate.type) {
    case 'sticky:listening':
      return Number.isInteger(candidate.port);
    case 'sticky:open':
      return (
        typeof candidate.sid === 'string' &&
        (candidate.token === undefined || Number.isInteger(candidate.token))
      );
    case 'sticky:close':
      return typeof candidate.sid === 'string';
    case 'sticky:release':
      return Number.isInteger(candidate.token);
    case 'sticky:draining':
      return true;
    case 'metrics:response':
      return Number.isInteger(candidate.id) && Array.isArray(candidate.metrics);
    default:
      return false;
  }
}
