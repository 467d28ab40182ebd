import { Global, Module } from '@nestjs/common';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { MetricsController } from './metrics.controller.js';
import { PubsubMetrics } from './pubsub.metrics.js';
import { RedisMetrics } from './redis.metrics.js';
import { SocketMetrics } from './socket-metrics.js';
import { WorkerMetricsReporter } from './worker-metrics.reporter.js';

/** One registry per app (0012). To add metrics, inject `Registry` in a class, as AnswerMetrics does. */
@Global()
@Module({
  controllers: [MetricsController],
  providers: [
    {
      provide: Registry,
      useFactory: () => {
        const registry = new Registry();
        collectDefaultMetrics({ register: registry });
        return registry;
      },
    },
    SocketMetrics,
    RedisMetrics,
    PubsubMetrics,
    WorkerMetricsReporter,
  ],
  exports: [Registry, SocketMetrics, RedisMetrics],
})
export class MetricsModule {}
