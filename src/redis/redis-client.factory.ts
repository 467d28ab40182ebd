import type { Logger } from '@nestjs/common';
import { Cluster, type Command, Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config/app-config.js';
import { credentialsFromUrl } from './redis-url.js';
import { reconnectDelay } from '../common/retry.js';

export type RedisClient = Redis | Cluster;

/** publisher / subscriber: the adapter's pair (a subscribed connection runs no commands). */
export type RedisRole = 'command' | 'publisher' | 'subscriber';

/** A command that takes longer than this fails instead of stalling a socket handler. */
const COMMAND_TIMEOUT_MS = 2000;
const CONNECT_TIMEOUT_MS = 5000;
/** TCP keepalive probes start after this idle time, so a dead peer is noticed on a quiet connection. */
const KEEPALIVE_MS = 10_000;

function optionsFor(config: RedisConfig, role: RedisRole): RedisOptions {
  return {
    connectionName: `${config.keyPrefix}:${role}:${process.pid}`,
    // No CLIENT SETINFO on connect (Redis >= 7.2): one command fewer for the ACL user to be granted.
    disableClientInfo: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    keepAlive: KEEPALIVE_MS,
    retryStrategy: (attempt) => reconnectDelay(attempt),
    // The subscriber idles by design and its SUBSCRIBEs are replayed on reconnect: no timeout (0006).
    commandTimeout: role === 'subscriber' ? undefined : COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: role === 'subscriber' ? null : 1,
  };
}

/** Creates one client of `role` for the configured mode; connection starts at once, in the background. */
export function createRedisClient(config: RedisConfig, role: RedisRole): RedisClient {
  const options = optionsFor(config, role);
  const { username, password, tls } = credentialsFromUrl(config.url);
  const tlsOptions = tls ? { tls: {} } : {};
  switch (config.mode) {
    case 'cluster':
      return new Cluster(config.clusterNodes, {
        clusterRetryStrategy: (attempt) => reconnectDelay(attempt),
        // Sharded pub/sub must reach the node owning each channel's slot: one connection per shard.
        shardedSubscribers: role === 'subscriber',
        redisOptions: { ...options, username, password, ...tlsOptions },
      });
    case 'sentinel':
      return new Redis({
        ...options,
        ...tlsOptions,
        sentinels: config.sentinels,
        name: config.sentinelName,
        username,
        password,
        db: config.db,
        sentinelRetryStrategy: (attempt) => reconnectDelay(attempt),
      });
    default:
      return new Redis(config.url as string, { ...options, db: config.db });
  }
}

/** Logs a client's state changes once each (connected, lost, restored), never once per retry. */
export function watchClientState(client: RedisClient, name: string, logger: Logger): { stop(): void } {
  let state: 'connecting' | 'up' | 'down' = 'connecting';
  let everUp = false;
  let stopped = false;

  const markDown = (reason: string) => {
    if (stopped || state === 'down') return;
    if (state === 'up') logger.warn(`Redis ${name} connection lost (${reason}); reconnecting with backoff`);
    else logger.warn(`Redis ${name} unreachable (${reason}); retrying with backoff`);
    state = 'down';
  };
  client.on('ready', () => {
    if (stopped || state === 'up') return;
    logger.log(everUp ? `Redis ${name} connection restored` : `Redis ${name} connected`);
    state = 'up';
    everUp = true;
  });
  client.on('error', (error: Error) => markDown(error.message));
  client.on('close', () => markDown('connection closed'));
  return {
    stop: () => {
      stopped = true;
    },
  };
}

/** Told the duration of every command a client ran (queued time included) and whether it failed. */
export type CommandObserver = (seconds: number, failed: boolean) => void;

const TIMED = Symbol('redis command timed');

type SendCommand = (command: Command, stream?: unknown, node?: unknown) => unknown;

/** Times every command by wrapping `sendCommand` (ioredis 5 has no hooks); a resent command is timed once. */
export function observeCommands(client: RedisClient, observer: CommandObserver): void {
  const target = client as unknown as { sendCommand: SendCommand };
  const send = target.sendCommand;
  target.sendCommand = function (this: unknown, command, stream, node) {
    const timed = command as Command & { [TIMED]?: true };
    if (timed[TIMED] === undefined) {
      timed[TIMED] = true;
      const started = performance.now();
      command.promise.then(
        () => observer((performance.now() - started) / 1000, false),
        () => observer((performance.now() - started) / 1000, true),
      );
    }
    return send.call(this, command, stream, node);
  };
}

const QUIT_TIMEOUT_MS = 1000;

/** QUIT, or disconnect if the client never got ready or QUIT fails or hangs. Never throws. */
export async function quitOrDisconnect(
  client: RedisClient,
  onQuitError: (error: Error) => void = () => undefined,
): Promise<void> {
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  const timer = setTimeout(() => client.disconnect(), QUIT_TIMEOUT_MS);
  try {
    await client.quit();
  } catch (error) {
    onQuitError(error as Error);
    client.disconnect();
  } finally {
    clearTimeout(timer);
  }
}
