import { randomBytes } from 'node:crypto';
import { Cluster } from 'ioredis';
import type { RedisConfig } from '../../config/app-config.js';
import { loadConfigOrExit } from '../../config/load-config.js';
import {
  createRedisClient,
  quitOrDisconnect,
  type RedisClient,
  type RedisRole,
} from '../../redis/redis-client.factory.js';
import { credentialsFromUrl, describeRedisTarget } from '../../redis/redis-url.js';

/** A tool must answer within seconds, unlike the service's clients that retry forever. */
const CONNECT_DEADLINE_MS = 4000;
/** Ceiling of any one step whose client has no command timeout (the subscriber's SUBSCRIBE). */
export const STEP_TIMEOUT_MS = 3000;

/** What went wrong, for the verdict: the server cannot be reached, or it refused our credentials. */
export type ConnectFailureKind = 'unreachable' | 'auth';

export class ConnectFailure extends Error {
  constructor(
    readonly kind: ConnectFailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'ConnectFailure';
  }
}

/** The service's own configuration; exits 1 when Redis is off, as there is nothing to check. */
export function loadRedisConfigOrExit(tool: string): RedisConfig {
  const config = loadConfigOrExit();
  if (!config.redis.enabled) {
    console.error(
      `${tool}: REDIS_ENABLED is false, so the service uses no Redis and there is nothing to check. ` +
        "Run it with the service's environment (REDIS_ENABLED=true, REDIS_URL, REDIS_MODE, ...).",
    );
    process.exit(1);
  }
  return config.redis;
}

/** Where the tools connect, fit to print: the password is always `***`. */
export function targetOf(config: RedisConfig): string {
  return describeRedisTarget(config);
}

/** Removes the configured password (raw, URL-encoded, as in REDIS_URL) from outside text such as errors. */
export function secretScrubber(config: RedisConfig): (text: string) => string {
  const secrets = new Set<string>();
  try {
    const { password } = credentialsFromUrl(config.url);
    if (password) {
      secrets.add(password);
      secrets.add(encodeURIComponent(password));
      if (config.url) secrets.add(new URL(config.url).password);
    }
  } catch {
    // An unparseable URL was refused by the config loader already; nothing to hide then.
  }
  const list = [...secrets].filter((secret) => secret.length > 0).sort((a, b) => b.length - a.length);
  return (text) => list.reduce((scrubbed, secret) => scrubbed.split(secret).join('***'), text);
}

/** An error's message only (never its object: ioredis errors carry the command and its arguments). */
export function messageOf(error: unknown, scrub: (text: string) => string): string {
  const message = error instanceof Error ? error.message : String(error);
  return scrub(message.replace(/\s+/g, ' ').trim());
}

/** Redis refused the request for lack of permission (ACL): the item is unavailable, not broken. */
export function isPermissionError(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /^NOPERM\b/.test(message) || /^ERR unknown (sub)?command\b/i.test(message);
}

function isAuthError(error: Error): boolean {
  return /WRONGPASS|NOAUTH|invalid (username-)?password|user is disabled/i.test(error.message);
}

export function randomId(): string {
  return randomBytes(6).toString('hex');
}

/** A client from the service's factory, ready within CONNECT_DEADLINE_MS or rejected (ConnectFailure). */
export async function connectTool(
  config: RedisConfig,
  role: RedisRole,
  toolName: string,
  scrub: (text: string) => string,
): Promise<RedisClient> {
  const client = createRedisClient(config, role);
  let lastError: Error | undefined;
  // Kept for the client's whole life: an 'error' without a listener would be printed raw by ioredis.
  client.on('error', (error: Error) => (lastError = error));
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (failure: ConnectFailure) => {
        clearTimeout(timer);
        client.off('ready', onReady);
        client.off('error', onError);
        reject(failure);
      };
      const onReady = () => {
        clearTimeout(timer);
        client.off('error', onError);
        resolve();
      };
      const onError = (error: Error) => {
        if (isAuthError(error))
          fail(new ConnectFailure('auth', `authentication failed: ${messageOf(error, scrub)}`));
      };
      const timer = setTimeout(() => {
        const reason = lastError ? messageOf(lastError, scrub) : 'no answer';
        fail(
          new ConnectFailure(
            'unreachable',
            `no connection within ${CONNECT_DEADLINE_MS / 1000} s (${reason})`,
          ),
        );
      }, CONNECT_DEADLINE_MS);
      client.once('ready', onReady);
      client.on('error', onError);
    });
  } catch (error) {
    client.disconnect();
    throw error;
  }
  if (!(client instanceof Cluster)) {
    const name = `${config.keyPrefix}:${toolName}:${process.pid}`;
    await withTimeout(client.client('SETNAME', name), STEP_TIMEOUT_MS, 'CLIENT SETNAME').catch(
      () => undefined,
    );
  }
  return client;
}

/** QUIT, or a plain disconnect when QUIT does not answer promptly. Never throws. */
export async function closeTool(client: RedisClient | undefined): Promise<void> {
  if (client) await quitOrDisconnect(client);
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Milliseconds, rounded to 0.01 ms for printing and JSON. */
export function roundMs(ms: number): number {
  return Math.round(ms * 100) / 100;
}
