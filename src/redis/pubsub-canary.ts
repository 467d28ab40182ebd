import { hostname } from 'node:os';
import { type BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import calculateSlot from 'cluster-key-slot';
import { Cluster } from 'ioredis';
import type { Namespace } from 'socket.io';
import {
  WORKER_REFRESH_SECONDS,
  WORKER_TTL_SECONDS,
  adapterShardChannel,
  type WorkerRecord,
  workerKey,
  workerPattern,
} from './redis-keys.js';
import { RedisManager } from './redis.manager.js';
import { countAdapterSubscribers, countKeys, keyNodes } from './redis-scan.js';

/** How often a worker sends itself a canary, and how long it waits for it. A miss is known ≤ 8 s in. */
const CANARY_INTERVAL_MS = WORKER_REFRESH_SECONDS * 1000;
export const CANARY_TIMEOUT_MS = 3000;
/** A subscriber this freshly (re)connected may still be re-subscribing: a canary proves nothing. */
const SETTLE_MS = 1000;
/** NUMSUB and the registry are counted on the first ticks, then every COUNT_EVERY (SCAN is costly). */
const COUNT_EVERY = 12;
const COUNT_FIRST = 4;

export interface CanaryStatus {
  /** false from a missed canary (or a lost subscriber) until a canary comes back again. */
  healthy: boolean;
  reason?: string;
  lastRttMs?: number;
  misses: number;
  /** Adapter subscribers Redis counts on the adapter's channel, and live workers in the registry. */
  subscribers?: number;
  expectedWorkers?: number;
}

/**
 * No deaf workers: this worker's adapter subscriber must hear its own canary (one per shard in cluster
 * mode); a miss marks `redis_pubsub` down and reconnects it. Also keeps the registry entry (0005).
 */
@Injectable()
export class PubsubCanary implements BeforeApplicationShutdown {
  private readonly logger = new Logger('PubsubCanary');
  private readonly instance = hostname();
  private readonly startedAt = new Date().toISOString();
  private readonly state: CanaryStatus = { healthy: true, misses: 0 };
  private channel = '';
  private clusterPrefix?: string;
  /** Cluster: master node key -> the canary channel hash-tagged onto a slot it serves. */
  private readonly shardChannels = new Map<string, string>();
  /** Cluster: the canary channels whose SSUBSCRIBE has been confirmed. */
  private readonly subscribedShardChannels = new Set<string>();
  private timer?: NodeJS.Timeout;
  /** The canary in flight: the channels it has not come back on yet. */
  private waiting?: { id: string; sentAt: number; timeout: NodeJS.Timeout; pending: Set<string> };
  private sent = 0;
  private consecutiveMisses = 0;
  private ticks = 0;
  /** When the subscriber last became ready (0: before this canary started). */
  private subscriberReadyAt = 0;
  /** ISO time of the last canary that came back or was missed (what `redis:health` judges by age). */
  private lastCanaryAt?: string;
  private detach?: () => void;
  private readonly listeners: Array<(rttMs: number | undefined) => void> = [];

  constructor(private readonly redis: RedisManager) {}

  get status(): CanaryStatus {
    return { ...this.state };
  }

  /** Why this worker's pub/sub does not work (connected is not enough), or undefined. */
  problem(): string | undefined {
    if (!this.redis.enabled) return 'Redis is off';
    for (const role of ['publisher', 'subscriber'] as const) {
      if (!this.redis.isReady(role)) return `${role} client is ${this.redis.client(role).status}`;
    }
    if (!this.state.healthy) return `pub/sub canary: ${this.state.reason ?? 'missed'}`;
    return undefined;
  }

  /** Called with the round trip in ms after each canary, or undefined after a miss. */
  onResult(listener: (rttMs: number | undefined) => void): void {
    this.listeners.push(listener);
  }

  /** Starts watching the adapter of `namespace` (after the Socket.IO server exists). No-op without Redis. */
  start(namespace: Namespace): void {
    if (!this.redis.enabled || this.timer) return;
    const prefix = this.redis.config.keyPrefix;
    const subscriber = this.redis.client('subscriber');
    const id = `canary:${this.instance}:${process.pid}`;
    // Called for every message the adapter's subscriber gets (the chat's broadcasts too): cheap exit.
    const onMessage = (channel: Buffer | string, message: Buffer | string) => {
      if (!this.waiting) return;
      const name = channel.toString();
      if (this.waiting.pending.has(name)) this.received(name, message.toString());
    };
    if (subscriber instanceof Cluster) {
      // One canary per shard: ioredis keeps a subscriber connection per shard, each must be proven alive.
      this.clusterPrefix = `${prefix}:${id}`;
      const listener = (channel: Buffer, message: Buffer) => onMessage(channel, message);
      subscriber.on('smessageBuffer', listener);
      this.detach = () => subscriber.off('smessageBuffer', listener);
    } else {
      const adapterChannel = (namespace.adapter as unknown as { channel?: string }).channel;
      this.channel = `${adapterChannel ?? adapterShardChannel(prefix)}${id}#`;
      const listener = (_pattern: Buffer, channel: Buffer, message: Buffer) => onMessage(channel, message);
      subscriber.on('pmessageBuffer', listener);
      this.detach = () => subscriber.off('pmessageBuffer', listener);
    }
    // A lost subscriber is deaf until proven otherwise: down until a canary comes back after it.
    const onClose = () => this.markDown('the subscriber connection closed');
    const onReady = () => (this.subscriberReadyAt = performance.now());
    subscriber.on('close', onClose).on('ready', onReady);
    const detachMessages = this.detach;
    this.detach = () => {
      detachMessages?.();
      subscriber.off('close', onClose).off('ready', onReady);
    };
    this.timer = setInterval(() => void this.tick(), CANARY_INTERVAL_MS);
    this.timer.unref();
    void this.tick();
  }

  /** Before Redis quits: stop, so its closing is not taken for a deaf subscriber; leave the registry. */
  beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    if (this.waiting) clearTimeout(this.waiting.timeout);
    this.detach?.();
    if (!this.redis.enabled || this.redis.client('command').status !== 'ready') return Promise.resolve();
    return this.redis
      .client('command')
      .del(this.registryKey())
      .then(
        () => undefined,
        () => undefined,
      );
  }

  private async tick(): Promise<void> {
    if (this.waiting) return; // the previous one is still within its timeout
    // A client that is down reconnects by itself; one that just came back gets a moment to re-subscribe.
    const settled = performance.now() - this.subscriberReadyAt >= SETTLE_MS;
    if (this.redis.isReady('publisher') && this.redis.isReady('subscriber') && settled) this.send();
    this.ticks++;
    const counting = this.ticks <= COUNT_FIRST || this.ticks % COUNT_EVERY === 0;
    await this.register();
    if (counting) await this.count();
  }

  private send(): void {
    const id = `${process.pid}-${++this.sent}`;
    const sentAt = performance.now();
    const publisher = this.redis.client('publisher');
    const channels = publisher instanceof Cluster ? this.clusterChannels() : [this.channel];
    if (channels.length === 0) return; // cluster topology not known yet
    const timeout = setTimeout(() => this.missed(), CANARY_TIMEOUT_MS);
    timeout.unref();
    this.waiting = { id, sentAt, timeout, pending: new Set(channels) };
    for (const channel of channels) {
      const publish =
        publisher instanceof Cluster ? publisher.spublish(channel, id) : publisher.publish(channel, id);
      publish.catch(() => undefined); // an unsent canary is a miss, found by its timeout
    }
  }

  /** One canary channel per master, on a slot it serves; follows resharding. */
  private clusterChannels(): string[] {
    const subscriber = this.redis.client('subscriber') as Cluster;
    const masters = new Map<string, number>(); // node key -> one slot it serves
    subscriber.slots.forEach((nodes, slot) => {
      if (nodes?.[0] && !masters.has(nodes[0])) masters.set(nodes[0], slot);
    });
    for (const [node, slot] of masters) {
      const known = this.shardChannels.get(node);
      if (known && subscriber.slots[calculateSlot(known)]?.[0] === node) continue;
      const channel = this.channelForSlot(slot);
      this.shardChannels.set(node, channel);
      // Sent on only once subscribed: an earlier canary would be a false miss, reconnecting every shard.
      subscriber.ssubscribe(channel).then(
        () => this.subscribedShardChannels.add(channel),
        () => undefined,
      );
    }
    for (const node of this.shardChannels.keys()) if (!masters.has(node)) this.shardChannels.delete(node);
    return [...this.shardChannels.values()].filter((channel) => this.subscribedShardChannels.has(channel));
  }

  /** `<prefix>:canary:<host>:<pid>:{<tag>}` whose tag hashes to `slot` (found by trying tags in turn). */
  private channelForSlot(slot: number): string {
    for (let tag = 0; ; tag++) {
      if (calculateSlot(String(tag)) === slot) return `${this.clusterPrefix}:{${tag}}`;
    }
  }

  private received(channel: string, id: string): void {
    if (!this.waiting || this.waiting.id !== id || !this.waiting.pending.delete(channel)) return;
    if (this.waiting.pending.size > 0) return; // other shards still to answer
    clearTimeout(this.waiting.timeout);
    const rtt = performance.now() - this.waiting.sentAt;
    this.waiting = undefined;
    this.state.lastRttMs = Math.round(rtt * 10) / 10;
    this.lastCanaryAt = new Date().toISOString();
    if (!this.state.healthy) this.logger.log(`Redis pub/sub canary is back (${this.state.lastRttMs} ms)`);
    this.state.healthy = true;
    this.state.reason = undefined;
    this.consecutiveMisses = 0;
    for (const listener of this.listeners) listener(rtt);
  }

  private missed(): void {
    const { sentAt, pending } = this.waiting!;
    this.waiting = undefined;
    // The subscriber reconnected meanwhile: inconclusive, the next canary decides.
    if (this.subscriberReadyAt > sentAt - SETTLE_MS) return;
    this.lastCanaryAt = new Date().toISOString();
    this.state.misses++;
    this.consecutiveMisses++;
    for (const listener of this.listeners) listener(undefined);
    const subscriber = this.redis.client('subscriber');
    const where = this.clusterPrefix ? ` on ${pending.size} of ${this.shardChannels.size} shards` : '';
    this.markDown(`canary not back within ${CANARY_TIMEOUT_MS} ms${where}`);
    // Only a connection that claims to be fine needs forcing; one that is down reconnects by itself.
    if (subscriber.status === 'ready') {
      this.logger.warn('Re-establishing the Redis subscriber connection after a missed canary');
      subscriber.disconnect(true);
    }
    // Missed again with a fresh subscriber: the publisher may be the deaf one.
    const publisher = this.redis.client('publisher');
    if (this.consecutiveMisses >= 2 && publisher.status === 'ready') {
      this.logger.warn('Re-establishing the Redis publisher connection after repeated missed canaries');
      publisher.disconnect(true);
    }
  }

  private markDown(reason: string): void {
    if (this.state.healthy)
      this.logger.warn(`Redis pub/sub canary: ${reason}; redis_pubsub is down until it comes back`);
    this.state.healthy = false;
    this.state.reason = reason;
  }

  private registryKey(): string {
    return workerKey(this.redis.config.keyPrefix, this.instance, process.pid);
  }

  /** This worker's entry for `redis:health`; expires by itself if the worker dies. */
  private async register(): Promise<void> {
    const command = this.redis.client('command');
    if (command.status !== 'ready') return;
    const key = this.registryKey();
    await command
      .multi()
      .hset(key, {
        pid: String(process.pid),
        instance: this.instance,
        startedAt: this.startedAt,
        canaryOk: this.state.healthy ? '1' : '0',
        canaryRttMs: this.state.lastRttMs === undefined ? '' : String(this.state.lastRttMs),
        canaryAt: this.lastCanaryAt ?? '',
      } satisfies WorkerRecord)
      .expire(key, WORKER_TTL_SECONDS)
      .exec()
      .catch(() => undefined);
  }

  private async count(): Promise<void> {
    const command = this.redis.client('command');
    if (command.status !== 'ready') return;
    const prefix = this.redis.config.keyPrefix;
    try {
      this.state.subscribers = await countAdapterSubscribers(command, prefix, keyNodes(command));
      this.state.expectedWorkers = await countKeys(command, workerPattern(prefix));
    } catch {
      // Informational only (an ACL without PUBSUB, Redis busy): keep the last figures.
    }
  }
}
