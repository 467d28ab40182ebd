/**
 * Every Redis key, pattern and channel name the service and its operator tools use, in one place.
 * Everything lives under `REDIS_KEY_PREFIX` (`prefix` below), so several services can share one Redis
 * and an ACL user can be limited to `~<prefix>:*` and `&<prefix>:*` (see config/redis.conf).
 */

/** The Socket.IO namespace of the chat. */
export const CHAT_NAMESPACE = '/chat';

/** A live socket's session hash (`userId`, `name`, `pid`, `instance`, `connectedAt`, `conversations`). */
export function sessionKey(prefix: string, sid: string): string {
  return `${prefix}:session:${sid}`;
}

/**
 * A user's live-socket slots: a sorted set of sids scored by when each slot lapses unless refreshed,
 * so the slots of a crashed worker free themselves (MAX_CONNECTIONS_PER_USER).
 */
export function userSocketsKey(prefix: string, userId: string): string {
  return `${prefix}:user-sockets:${userId}`;
}

/** SCAN MATCH pattern of every session hash. */
export function sessionPattern(prefix: string): string {
  return `${prefix}:session:*`;
}

/**
 * The worker registry: each live worker process keeps this hash (fields in `WorkerRecord`), with a
 * TTL of `WORKER_TTL_SECONDS` refreshed every `WORKER_REFRESH_SECONDS`, so a dead worker's entry
 * vanishes within the TTL. `instance` is the pod (host name), `pid` the worker's process id.
 */
export function workerKey(prefix: string, instance: string, pid: number | string): string {
  return `${prefix}:worker:${instance}:${pid}`;
}

/** SCAN MATCH pattern of every worker registry entry. */
export function workerPattern(prefix: string): string {
  return `${prefix}:worker:*`;
}

export const WORKER_TTL_SECONDS = 15;
export const WORKER_REFRESH_SECONDS = 5;

/** A worker registry hash as stored (every Redis hash field is a string). */
export interface WorkerRecord {
  pid: string;
  instance: string;
  /** ISO 8601. */
  startedAt: string;
  /** `1` when the worker's last pub/sub canary came back, `0` when it did not. */
  canaryOk: string;
  /** Round trip of the last canary in ms; empty before the first one. */
  canaryRttMs: string;
  /** ISO 8601 time of the last canary. */
  canaryAt: string;
}

/**
 * The Socket.IO Redis adapter's key: `key` of `createAdapter`, `channelPrefix` of
 * `createShardedAdapter` (src/bootstrap/redis-io.adapter.ts).
 */
export function adapterKey(prefix: string): string {
  return `${prefix}:socket.io`;
}

/**
 * The classic adapter's request channel of a namespace: every adapter instance (one per worker
 * process) SUBSCRIBEs it, so `PUBSUB NUMSUB` of it counts the subscribed workers (standalone, sentinel).
 */
export function adapterRequestChannel(prefix: string, namespace = CHAT_NAMESPACE): string {
  return `${adapterKey(prefix)}-request#${namespace}#`;
}

/**
 * The sharded adapter's main channel of a namespace (REDIS_MODE=cluster): every adapter instance
 * SSUBSCRIBEs it, so `PUBSUB SHARDNUMSUB` of it counts the subscribed workers.
 */
export function adapterShardChannel(prefix: string, namespace = CHAT_NAMESPACE): string {
  return `${adapterKey(prefix)}#${namespace}#`;
}

/** Key prefix of the per-user rate-limit counters (rate-limiter-flexible adds `:<user id>`). */
export function rateLimitKeyPrefix(prefix: string): string {
  return `${prefix}:ratelimit`;
}

/**
 * The two keys of an answer's progress (text so far, next delta index). `{messageId}` is a hash tag:
 * both keys share a cluster slot, so one MULTI may touch both.
 */
export function answerProgressKeys(prefix: string, messageId: string): { content: string; next: string } {
  return {
    content: `${prefix}:answer:{${messageId}}:content`,
    next: `${prefix}:answer:{${messageId}}:next`,
  };
}

/** A throwaway key of `npm run redis:check` (written with a short TTL, deleted at once). */
export function checkKey(prefix: string, id: string): string {
  return `${prefix}:check:${id}`;
}

/** The channel of one pub/sub canary round trip of an operator tool. */
export function toolCanaryChannel(prefix: string, id: string): string {
  return `${prefix}:canary:cli:${id}`;
}
