import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Registry } from 'prom-client';
import { isMetricsRequest, type WorkerMessage } from '../cluster/sticky-protocol.js';
import { isStickyWorker } from '../cluster/sticky-worker.js';

/** Behind the primary, answers its `metrics:request` with this app's registry; idle otherwise. */
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
