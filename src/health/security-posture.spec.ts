import type { AppConfig } from '../config/app-config.js';
import { securityProblems } from './security-posture.js';

const secure: AppConfig = {
  server: {
    nodeEnv: 'production',
    host: '0.0.0.0',
    port: 3000,
    workers: 4,
    shutdownGraceMs: 10000,
    shutdownDrainDelayMs: 1000,
    maxHttpConnections: 10000,
    demoUi: false,
  },
  redis: {
    enabled: true,
    mode: 'standalone',
    url: 'redis://127.0.0.1:6379',
    db: 0,
    sentinels: [],
    clusterNodes: [],
    keyPrefix: 'socketio',
    sessionTtlSeconds: 3600,
  },
  database: { type: 'sqlite', location: 'data/chat.db' },
  ollama: {
    url: 'http://localhost:11434',
    model: 'llama3.2',
    required: false,
    connectTimeoutMs: 30000,
    idleTimeoutMs: 30000,
    assistantEnabled: true,
  },
  storage: { dir: './data' },
  security: {
    jwtSecret: 'x'.repeat(32),
    corsOrigins: ['https://chat.example.com'],
    maxConnectionsPerUser: 20,
  },
};

const withRedisUrl = (url: string): AppConfig => ({ ...secure, redis: { ...secure.redis, url } });

describe('securityProblems', () => {
  it('finds none in a hardened setup', () => {
    expect(securityProblems(secure)).toEqual([]);
  });

  it('flags a weak or missing secret, and open CORS', () => {
    expect(
      securityProblems({
        ...secure,
        security: { ...secure.security, jwtSecret: 'short', corsOrigins: ['*'] },
      }),
    ).toEqual([
      'JWT_SECRET is missing, a placeholder or shorter than 32 characters',
      'CORS_ORIGINS is not an explicit list',
    ]);
    const placeholder = { ...secure.security, jwtSecret: 'change-me-to-at-least-32-random-characters' };
    expect(securityProblems({ ...secure, security: placeholder })).toEqual([
      'JWT_SECRET is missing, a placeholder or shorter than 32 characters',
    ]);
    expect(
      securityProblems({
        ...secure,
        security: { ...secure.security, jwtSecret: undefined, corsOrigins: [] },
      }),
    ).toHaveLength(2);
  });

  it('accepts remote Redis only with a password or TLS', () => {
    expect(securityProblems(withRedisUrl('redis://cache.internal:6379'))).toEqual([
      'Redis is reachable beyond loopback without a password or TLS',
    ]);
    expect(securityProblems(withRedisUrl('redis://:pw@cache.internal:6379'))).toEqual([]);
    expect(securityProblems(withRedisUrl('rediss://cache.internal:6379'))).toEqual([]);
    expect(securityProblems(withRedisUrl('redis://localhost:6379'))).toEqual([]);
  });

  it('judges sentinel nodes by their hosts', () => {
    const sentinel: AppConfig = {
      ...secure,
      redis: {
        ...secure.redis,
        mode: 'sentinel',
        url: undefined,
        sentinels: [{ host: '10.0.0.5', port: 26379 }],
      },
    };
    expect(securityProblems(sentinel)).toHaveLength(1);
  });
});
