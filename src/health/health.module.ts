import { Global, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { LlmModule } from '../llm/llm.module.js';
import { HealthController } from './health.controller.js';
import { ReadinessService } from './readiness.service.js';
import { ShutdownState } from './shutdown-state.js';
import { StorageHealthIndicator } from './storage.health.js';

@Global()
@Module({
  // Terminus would log a failed check on every probe; the Redis clients log each state change once.
  imports: [TerminusModule.forRoot({ logger: false }), LlmModule],
  controllers: [HealthController],
  providers: [ReadinessService, StorageHealthIndicator, ShutdownState],
  exports: [ShutdownState],
})
export class HealthModule {}
