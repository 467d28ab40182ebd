import { Global, Module } from '@nestjs/common';
import { Registry } from 'prom-client';
import { AnswerMetrics } from './answer.metrics.js';

/** One Prometheus registry per application (not prom-client's global one), so apps never collide. */
@Global()
@Module({
  providers: [{ provide: Registry, useFactory: () => new Registry() }, AnswerMetrics],
  exports: [Registry, AnswerMetrics],
})
export class MetricsModule {}
