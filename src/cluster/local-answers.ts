import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@nestjs/common';
import { Registry } from 'prom-client';
import type { ReadinessReport } from '../health/readiness-report.js';
import { answerJson, isRead } from '../common/plain-http.js';
import type { ClusterMetrics } from './cluster.metrics.js';

/**
 * No worker listens: liveness 200, readiness the contract's 503 JSON, anything else a plain 503
 * (docs/decisions/0008-readiness-without-a-worker.md).
 */
export function answerWithoutWorker(
  req: IncomingMessage,
  res: ServerResponse,
  unready: ReadinessReport,
): void {
  if (isRead(req, '/api/health')) return answerJson(req, res, 200, { status: 'ok' });
  if (isRead(req, '/api/ready')) return answerJson(req, res, 503, unready);
  res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end('No worker is ready\n');
}

/** `GET /metrics` for the whole pod: every ready worker's registry, asked over IPC, plus the primary's. */
export async function serveClusterMetrics(
  res: ServerResponse,
  metrics: ClusterMetrics,
  readyWorkers: Parameters<ClusterMetrics['render']>[0],
  logger: Logger,
): Promise<void> {
  try {
    const text = await metrics.render(readyWorkers);
    res.writeHead(200, { 'content-type': Registry.PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' });
    res.end(text);
  } catch (error) {
    logger.error(`Metrics failed: ${(error as Error).message}`);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end('Metrics failed\n');
  }
}
