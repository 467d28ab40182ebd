import type { ChildProcess } from 'node:child_process';
import { AggregatorRegistry, Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { MetricsRequestMessage, WorkerMetrics } from './sticky-protocol.js';

/** Well inside Prometheus' 10 s scrape timeout: a stuck worker costs its series, not the scrape. */
const WORKER_METRICS_TIMEOUT_MS = 2_000;

/** A worker the primary can ask: its slot (0..WORKERS-1, kept by its replacements) and IPC channel. */
export interface MetricsWorker {
  slot: number;
  child: Pick<ChildProcess, 'connected' | 'send'>;
}

/**
 * The pod's `/metrics`: every ready worker's registry plus the primary's, labelled `worker="<slot>"`,
 * never summed (docs/decisions/0007-metrics-labelled-per-worker.md).
 */
export class ClusterMetrics {
  readonly registry = new Registry();
  readonly workerRestarts: Counter;
  private readonly workersMissing: Gauge;
  private readonly pending = new Map<number, (metrics?: WorkerMetrics) => void>();
  private nextRequestId = 1;

  constructor(
    private readonly expectedWorkers: number,
    private readonly timeoutMs = WORKER_METRICS_TIMEOUT_MS,
  ) {
    collectDefaultMetrics({ register: this.registry });
    this.workerRestarts = new Counter({
      name: 'chat_worker_restarts_total',
      help: 'Workers that exited unexpectedly and were forked again by the primary',
      registers: [this.registry],
    });
    this.workersMissing = new Gauge({
      name: 'chat_metrics_workers_missing',
      help:
        'Workers whose metrics are missing from this scrape (not ready, or no answer within ' +
        `${WORKER_METRICS_TIMEOUT_MS / 1000} s), out of WORKERS`,
      registers: [this.registry],
    });
  }

  /** The pod's metrics in the Prometheus text format (`Registry.PROMETHEUS_CONTENT_TYPE`). */
  async render(workers: MetricsWorker[]): Promise<string> {
    const answers = await Promise.all(workers.map((worker) => this.ask(worker)));
    const sets: WorkerMetrics[] = [];
    answers.forEach((metrics, i) => {
      if (metrics) sets.push(labelled(metrics, String(workers[i].slot)));
    });
    this.workersMissing.set(Math.max(0, this.expectedWorkers - sets.length));
    sets.push(labelled(await this.registry.getMetricsAsJSON(), 'primary'));
    return AggregatorRegistry.aggregate(sets).metrics();
  }

  /** A worker's `metrics:response`. An answer that comes after its timeout is dropped. */
  received(id: number, metrics: WorkerMetrics): void {
    this.pending.get(id)?.(metrics);
  }

  private ask(worker: MetricsWorker): Promise<WorkerMetrics | undefined> {
    return new Promise((resolve) => {
      const id = this.nextRequestId++;
      const settle = (metrics?: WorkerMetrics) => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(metrics);
      };
      const timer = setTimeout(settle, this.timeoutMs);
      this.pending.set(id, settle);
      if (!worker.child.connected) return settle();
      const request: MetricsRequestMessage = { type: 'metrics:request', id };
      worker.child.send(request, (error) => {
        if (error) settle();
      });
    });
  }
}

/** Copies of `metrics` with `worker` on every series; label sets never overlap, so `sum` merges nothing. */
function labelled(metrics: WorkerMetrics, worker: string): WorkerMetrics {
  return metrics.map((metric) => ({
    ...metric,
    aggregator: 'sum',
    values: metric.values.map((value) => ({ ...value, labels: { ...value.labels, worker } })),
  }));
}
