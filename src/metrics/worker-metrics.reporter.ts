import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Registry } from 'prom-client';
import { isMetricsRequest, type WorkerMessage } from '../cluster/sticky-protocol.js';
import { isStickyWorker } from '../cluster/sticky-worker.js';

/**
 * In a worker forked by the primary (`WORKERS > 1`), answers the primary's `metrics:request` over IPC
 * with this app's registry as JSON: the primary serves `/metrics` for the whole pod (see
 * ClusterMetrics). Does nothing in a worker that serves on its own.
 */
@Injectable()
export class WorkerMetricsReporter implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Metrics');
  private readonly onMessage = (message: unknown) => {
    if (isMetricsRequest(message)) void this.answer(message.id);
  };

  constructor(private readonly registry: Registry) {}

  onModuleInit(): void {
    if (isStickyWorker()) process.on('message', this.onMessage);
  }

  onApplicationShutdown(): void {
    process.off('message', this.onMessage);
  }

  private async answer(id: number): Promise<void> {
    let response: WorkerMessage;
    try {
      response = { type: 'metrics:response', id, metrics: await this.registry.getMetricsAsJSON() };
    } catch (error) {
      // Unanswered, the primary leaves this worker out and counts it in chat_metrics_workers_missing.
      this.logger.warn(`Metrics collection failed: ${(error as Error).message}`);
      return;
    }
    // A failed send means the primary is gone; the sticky worker shuts down on 'disconnect'.
    if (process.connected) process.send!(response, undefined, {}, () => undefined);
  }
}
