import { Global, Module } from '@nestjs/common';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { MetricsController } from './metrics.controller.js';
import { PubsubMetrics } from './pubsub.metrics.js';
import { RedisMetrics } from './redis.metrics.js';
import { SocketMetrics } from './socket-metrics.js';
import { WorkerMetricsReporter } from './worker-metrics.reporter.js';

/**
 * prom-client metrics at `GET /metrics`, one registry per app so in-process test apps do not collide.
 * To add metrics, inject `Registry` in a class of the feature's module, as AnswerMetrics does.
 */
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
