import type { ChildProcess } from 'node:child_process';
import { AggregatorRegistry, Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { MetricsRequestMessage, WorkerMetrics } from './sticky-protocol.js';

/**
 * How long the primary waits for a worker's metrics. Well inside Prometheus' default 10 s scrape
 * timeout, so one stuck worker costs the scrape its series, not the whole scrape.
 */
const WORKER_METRICS_TIMEOUT_MS = 2_000;

/** A worker the primary can ask: its slot (0..WORKERS-1, kept by its replacements) and IPC channel. */
export interface MetricsWorker {
  slot: number;
  child: Pick<ChildProcess, 'connected' | 'send'>;
}

/**
 * The primary's `/metrics` for `WORKERS > 1` (no Nest here): asks every ready worker for its registry
 * over IPC, labels each worker's series `worker="<slot>"` and the primary's own `worker="primary"`, and
 * merges them with `AggregatorRegistry.aggregate` into one exposition.
 *
 * Labelled, not summed: summing a counter over workers breaks when one worker restarts (or misses a
 * scrape): the pod's total drops, Prometheus reads a counter reset and `rate()` counts the surviving
 * workers' whole totals again as new increase. Per worker, only that worker's series resets, which
 * `rate()` handles. Gauges need no aggregator choice either (a summed `redis_client_ready` or event loop
 * lag would mean nothing). Sum in PromQL: `sum without (worker) (rate(chat_events_received_total[5m]))`.
 * The slot, not the pid, is the label, so a replacement continues its predecessor's series.
 */
export class ClusterMetrics {
  readonly registry = new Registry();
  /** Workers that died unasked and were forked again. */
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

/**
 * Copies of `metrics` with `worker` added to every series (the primary's own values are live objects of
 * its registry: never mutated). Label sets never overlap between processes, so `sum` merges nothing and
 * drops nothing; prom-client's per-metric defaults would average some and omit others
 * (`process_start_time_seconds`, which per worker tells when it last restarted).
 */
function labelled(metrics: WorkerMetrics, worker: string): WorkerMetrics {
  return metrics.map((metric) => ({
    ...metric,
    aggregator: 'sum',
    values: metric.values.map((value) => ({ ...value, labels: { ...value.labels, worker } })),
  }));
}
