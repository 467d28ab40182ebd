/** Every Redis key and channel, under `REDIS_KEY_PREFIX` so an ACL can be limited to it (redis.conf). */

export const CHAT_NAMESPACE = '/chat';

/** A live socket's session hash (`userId`, `name`, `pid`, `instance`, `connectedAt`, `conversations`). */
export function sessionKey(prefix: string, sid: string): string {
  return `${prefix}:session:${sid}`;
}

/** A user's live-socket slots: sids scored by when each lapses unless refreshed. */
export function userSocketsKey(prefix: string, userId: string): string {
  return `${prefix}:user-sockets:${userId}`;
}

export function sessionPattern(prefix: string): string {
  return `${prefix}:session:*`;
}

/** Held (SET NX PX) by the one worker sweeping the session hashes of dead workers this round. */
export function sessionSweepLockKey(prefix: string): string {
  return `${prefix}:session-sweep`;
}

/** A live worker's registry hash (`WorkerRecord`), expiring WORKER_TTL_SECONDS after its last refresh. */
export function workerKey(prefix: string, instance: string, pid: number | string): string {
  return `${prefix}:worker:${instance}:${pid}`;
}

export function workerPattern(prefix: string): string {
  return `${prefix}:worker:*`;
}

export const WORKER_TTL_SECONDS = 15;
export const WORKER_REFRESH_SECONDS = 5;

/** A worker registry hash as stored: strings, times in ISO 8601. */
export interface WorkerRecord {
  pid: string;
  instance: string;
  startedAt: string;
  /** `1` when the last canary came back, else `0`. */
  canaryOk: string;
  /** ms; empty before the first canary. */
  canaryRttMs: string;
  canaryAt: string;
}

/** The adapter's `key` (createAdapter) or `channelPrefix` (createShardedAdapter). */
export function adapterKey(prefix: string): string {
  return `${prefix}:socket.io`;
}

/** The classic adapter's request channel: PUBSUB NUMSUB of it counts the subscribed workers. */
export function adapterRequestChannel(prefix: string, namespace = CHAT_NAMESPACE): string {
  return `${adapterKey(prefix)}-request#${namespace}#`;
}

/** The sharded adapter's main channel (cluster): PUBSUB SHARDNUMSUB of it counts the subscribed workers. */
export function adapterShardChannel(prefix: string, namespace = CHAT_NAMESPACE): string {
  return `${adapterKey(prefix)}#${namespace}#`;
}

/** Key prefix of the per-user rate-limit counters (rate-limiter-flexible adds `:<user id>`). */
export function rateLimitKeyPrefix(prefix: string): string {
  return `${prefix}:ratelimit`;
}

/** A streaming answer's progress: its deltas as `<length>:<text>` records, appended in order. */
export function answerProgressKey(prefix: string, messageId: string): string {
  return `${prefix}:answer:${messageId}:progress`;
}

/** A throwaway key of `npm run redis:check` (written with a short TTL, deleted at once). */
export function checkKey(prefix: string, id: string): string {
  return `${prefix}:check:${id}`;
}

export function toolCanaryChannel(prefix: string, id: string): string {
  return `${prefix}:canary:cli:${id}`;
}
