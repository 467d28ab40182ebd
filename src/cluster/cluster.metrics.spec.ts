import { jest } from '@jest/globals';
import { Counter, Registry } from 'prom-client';
import type { MetricsRequestMessage, WorkerMetrics } from './sticky-protocol.js';
import { ClusterMetrics, type MetricsWorker } from './cluster.metrics.js';

/** A worker's registry with one counter at `value`, as it would send it over IPC. */
async function workerMetrics(value: number): Promise<WorkerMetrics> {
  const registry = new Registry();
  new Counter({ name: 'chat_connections_total', help: 'h', registers: [registry] }).inc(value);
  return registry.getMetricsAsJSON();
}

/** A fake worker that answers each request with `metrics`, or never when `metrics` is undefined. */
function fakeWorker(cluster: ClusterMetrics, slot: number, metrics?: WorkerMetrics) {
  const requests: number[] = [];
  const worker: MetricsWorker = {
    slot,
    child: {
      connected: true,
      send: ((message: MetricsRequestMessage, callback: (error: Error | null) => void) => {
        requests.push(message.id);
        callback(null);
        if (metrics) setImmediate(() => cluster.received(message.id, metrics));
        return true;
      }) as MetricsWorker['child']['send'],
    },
  };
  return { worker, requests };
}

const sample = (text: string, series: string) =>
  text.split('\n').find((line) => line.startsWith(`${series} `));

describe('ClusterMetrics', () => {
  it('labels each worker\'s series with its slot and adds the primary\'s own, worker="primary"', async () => {
    const cluster = new ClusterMetrics(2);
    const first = fakeWorker(cluster, 0, await workerMetrics(3));
    const second = fakeWorker(cluster, 1, await workerMetrics(4));

    const text = await cluster.render([first.worker, second.worker]);

    expect(sample(text, 'chat_connections_total{worker="0"}')).toBe('chat_connections_total{worker="0"} 3');
    expect(sample(text, 'chat_connections_total{worker="1"}')).toBe('chat_connections_total{worker="1"} 4');
    expect(text.match(/^# TYPE chat_connections_total counter$/gm)).toHaveLength(1);
    expect(sample(text, 'chat_metrics_workers_missing{worker="primary"}')).toMatch(/ 0$/);
    // Kept per worker (prom-client's cluster default would omit it).
    expect(text).toMatch(/^process_start_time_seconds\{worker="primary"\} \d+/m);
  });

  it('leaves out a worker that does not answer in time and counts it missing, with the unready ones', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate'] });
    try {
      const cluster = new ClusterMetrics(3, 1000);
      const answering = fakeWorker(cluster, 0, await workerMetrics(1));
      const silent = fakeWorker(cluster, 1);

      const rendering = cluster.render([answering.worker, silent.worker]);
      await jest.advanceTimersByTimeAsync(1000);
      const text = await rendering;

      expect(text).toContain('chat_connections_total{worker="0"} 1');
      expect(text).not.toContain('worker="1"');
      expect(sample(text, 'chat_metrics_workers_missing{worker="primary"}')).toMatch(/ 2$/);
      // A late answer finds nothing waiting for it.
      cluster.received(silent.requests[0], await workerMetrics(9));
    } finally {
      jest.useRealTimers();
    }
  });

  it('does not wait for a worker whose IPC channel is closed', async () => {
    const cluster = new ClusterMetrics(1);
    const gone: MetricsWorker = {
      slot: 0,
      child: { connected: false, send: (() => true) as MetricsWorker['child']['send'] },
    };
    const text = await cluster.render([gone]);
    expect(sample(text, 'chat_metrics_workers_missing{worker="primary"}')).toMatch(/ 1$/);
  });
});
