import type { RedisConfig } from '../config/app-config.js';

/** A Redis URL fit for a log line: the password (and only it) becomes `***`. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.password) return url;
    const auth = parsed.username ? `${parsed.username}:***` : '***';
    return `${parsed.protocol}//${auth}@${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  } catch {
    // Unparseable input might still hold a secret after "://": hide everything but the scheme.
    return url.replace(/^(\w+:\/\/).*$/, '$1***');
  }
}

/** Where the service's Redis lives, for operators' logs; never carries a password. */
export function describeRedisTarget(config: RedisConfig): string {
  const nodes = (list: { host: string; port: number }[]) => list.map((n) => `${n.host}:${n.port}`).join(',');
  switch (config.mode) {
    case 'sentinel':
      return `sentinel://${nodes(config.sentinels)}/${config.sentinelName}`;
    case 'cluster':
      return `cluster://${nodes(config.clusterNodes)}`;
    default:
      return redactRedisUrl(config.url ?? '');
  }
}

export interface RedisCredentials {
  username?: string;
  password?: string;
  tls: boolean;
}

/** Credentials and TLS from `REDIS_URL`, for the modes that take their nodes from elsewhere. */
export function credentialsFromUrl(url: string | undefined): RedisCredentials {
  if (!url) return { tls: false };
  const parsed = new URL(url);
  return {
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    tls: parsed.protocol === 'rediss:',
  };
}
