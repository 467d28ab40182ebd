import { Injectable, ServiceUnavailableException } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { HealthCheckService, type HealthCheckResult, type HealthIndicatorFunction } from '@nestjs/terminus';
import type { AppConfig } from '../config/app-config.js';
import { DatabaseHealthIndicator } from '../database/database.health.js';
import { OllamaHealthIndicator } from '../llm/ollama.health.js';
import { RedisHealthIndicator } from '../redis/redis.health.js';
import { PubsubCanary } from '../redis/pubsub-canary.js';
import { RedisManager } from '../redis/redis.manager.js';
import type { CheckDetail, ReadinessReport } from './readiness-report.js';
import { securityDetail, securityProblems } from './security-posture.js';
import { ShutdownState } from './shutdown-state.js';
import { StorageHealthIndicator } from './storage.health.js';

const DISABLED: CheckDetail = { status: 'disabled', latency_ms: 0, message: 'REDIS_ENABLED=false' };

@Injectable()
export class ReadinessService {
  private readonly workers: number;
  private readonly securityIssues: string[];

  constructor(
    private readonly health: HealthCheckService,
    private readonly database: DatabaseHealthIndicator,
    private readonly storage: StorageHealthIndicator,
    private readonly ollama: OllamaHealthIndicator,
    private readonly redisHealth: RedisHealthIndicator,
    private readonly redis: RedisManager,
    private readonly canary: PubsubCanary,
    private readonly shutdown: ShutdownState,
    configService: ConfigService<AppConfig, true>,
  ) {
    this.workers = configService.get('server', { infer: true }).workers;
    // Configuration cannot change while the process lives, so neither can this verdict.
    this.securityIssues = securityProblems({
      security: configService.get('security', { infer: true }),
      redis: configService.get('redis', { infer: true }),
    });
  }

  /** Every check in parallel, each with its own timeout; Ollama critical only with OLLAMA_REQUIRED. */
  async check(): Promise<ReadinessReport> {
    if (this.shutdown.isShuttingDown) {
      return this.report(false, { shutdown: { status: 'down', latency_ms: 0, message: 'shutting down' } });
    }
    const indicators: HealthIndicatorFunction[] = [
      () => this.database.check(),
      () => this.storage.check(),
      () => this.ollama.check(),
    ];
    if (this.redis.enabled)
      indicators.push(
        () => this.redisHealth.command(),
        () => this.redisHealth.pubsub(),
      );

    const result = await this.health.check(indicators).catch((error: unknown) => {
      // Terminus reports a failed check as a 503 exception carrying the full result.
      if (error instanceof ServiceUnavailableException) return error.getResponse() as HealthCheckResult;
      throw error;
    });
    const details: Record<string, CheckDetail> = this.redis.enabled
      ? {}
      : { redis: DISABLED, redis_pubsub: DISABLED };
    for (const [key, value] of Object.entries(result.details)) {
      const { status, latency_ms, message } = value as {
        status: string;
        latency_ms: number;
        message?: string;
      };
      details[key] = { status: status === 'up' ? 'up' : 'down', latency_ms, ...(message ? { message } : {}) };
    }
    const ready = !this.shutdown.isShuttingDown && (result.status === 'ok' || result.status === 'degraded');
    return this.report(ready, details);
  }

  private report(ready: boolean, details: Record<string, CheckDetail>): ReadinessReport {
    const up = (key: string) => details[key]?.status === 'up';
    return {
      status: ready ? 'ready' : 'not_ready',
      checks: {
        database: up('database'),
        ollama: up('ollama'),
        redis: this.redis.enabled && up('redis') && up('redis_pubsub'),
        storage: up('storage'),
      },
      security_validated: this.securityIssues.length === 0,
      multi_worker_support: this.canary.problem() === undefined,
      workers: this.workers,
      details: {
        ...details,
        security: securityDetail(this.securityIssues),
      },
    };
  }
}
