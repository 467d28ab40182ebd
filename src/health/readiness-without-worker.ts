import type { AppConfig } from '../config/app-config.js';
import type { ReadinessReport } from './readiness-report.js';
import { securityDetail, securityProblems } from './security-posture.js';

/** `/api/ready` with no worker: all checks false (docs/decisions/0008-readiness-without-a-worker.md). */
export function readinessWithoutWorker(
  config: Pick<AppConfig, 'security' | 'redis' | 'server'>,
  message = 'No worker is ready (starting, or restarting after a crash)',
): ReadinessReport {
  const security = securityProblems(config);
  return {
    status: 'not_ready',
    checks: { database: false, ollama: false, redis: false, storage: false },
    security_validated: security.length === 0,
    multi_worker_support: false,
    workers: config.server.workers,
    details: {
      workers: {
        status: 'down',
        latency_ms: 0,
        message,
      },
      security: securityDetail(security),
    },
  };
}
