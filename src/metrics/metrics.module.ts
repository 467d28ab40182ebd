import { Global, Module } from '@nestjs/common';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { MetricsController } from './metrics.controller.js';
import { PubsubMetrics } from './pubsub.metrics.js';
import { RedisMetrics } from './redis.metrics.js';
import { SocketMetrics } from './socket-metrics.js';
import { WorkerMetricsReporter } from './worker-metrics.reporter.js';

/**
 * Prometheus metrics with prom-client, served at `GET /metrics` by MetricsController.
 *
 * One registry per application, not prom-client's global one: each worker is its own process, so in
 * production either would do, but tests build apps in process (`createApp`), and two apps on the global
 * registry collide on metric names (prom-client throws on a second registration). With `WORKERS > 1`
 * the primary asks each worker for this registry over IPC (WorkerMetricsReporter) and serves the pod's
 * `/metrics` itself.
 *
 * To add metrics, write an injectable class that takes `Registry` and registers its metrics on it, as
 * AnswerMetrics (src/chat) does, and provide it in its feature's module.
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
