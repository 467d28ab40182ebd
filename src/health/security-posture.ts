import type { AppConfig } from '../config/app-config.js';
import { allowsAnyOrigin } from '../config/cors-origins.js';
import { isPlaceholderSecret } from '../config/env-rules.js';
import type { CheckDetail } from './readiness-report.js';

/** Secrets shorter than this are guessable by brute force against HS256. */
const MIN_JWT_SECRET_LENGTH = 32;

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** CONTRACT section 3: why the posture is not secure (secret, CORS, Redis, dev switches); empty if it is. */
export function securityProblems(config: Pick<AppConfig, 'security' | 'redis'>): string[] {
  const problems: string[] = [];
  const { jwtSecret, corsOrigins } = config.security;
  if (!jwtSecret || jwtSecret.length < MIN_JWT_SECRET_LENGTH || isPlaceholderSecret(jwtSecret)) {
    problems.push(`JWT_SECRET is missing, a placeholder or shorter than ${MIN_JWT_SECRET_LENGTH} characters`);
  }
  if (allowsAnyOrigin(corsOrigins)) problems.push('CORS_ORIGINS is not an explicit list');
  if (config.redis.enabled && !redisIsProtected(config)) {
    problems.push('Redis is reachable beyond loopback without a password or TLS');
  }
  return problems;
}

function redisIsProtected(config: Pick<AppConfig, 'redis'>): boolean {
  const url = config.redis.url ? new URL(config.redis.url) : undefined;
  if (url && (url.password || url.protocol === 'rediss:')) return true;
  const hosts =
    config.redis.mode === 'standalone'
      ? [url?.hostname ?? '']
      : (config.redis.mode === 'sentinel' ? config.redis.sentinels : config.redis.clusterNodes).map(
          (n) => n.host,
        );
  return hosts.every((host) => LOOPBACK_HOSTS.has(host));
}

/** The `security` entry of readiness `details`: up, or down with the reasons. */
export function securityDetail(problems: string[]): CheckDetail {
  return {
    status: problems.length === 0 ? 'up' : 'down',
    latency_ms: 0,
    ...(problems.length > 0 ? { message: problems.join('; ') } : {}),
  };
}
