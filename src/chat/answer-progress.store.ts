import { Injectable } from '@nestjs/common';
import { RedisManager } from '../redis/redis.manager.js';
import { answerProgressKeys } from '../redis/redis-keys.js';

/** A streaming answer's text so far and the index of its next delta. */
export interface AnswerProgress {
  content: string;
  nextIndex: number;
}

/** Progress outlives a dead worker's answer only briefly: the sweeper fails that answer within a minute. */
const PROGRESS_TTL_SECONDS = 120;

/**
 * The exact progress of every answer being streamed, readable from any worker. The database
 * checkpoint lags up to a second, so a client that joins mid-answer would miss the deltas of that
 * second; this store is written before each delta is emitted (atomically with its index), so
 * `content` + the deltas from `nextIndex` on is always the whole answer. In Redis when it is on,
 * otherwise in this (single) process.
 */
@Injectable()
export class AnswerProgressStore {
  private readonly local = new Map<string, AnswerProgress>();
  constructor(private readonly redis: RedisManager) {}

  /** Adds `delta` as the next piece of `messageId`'s answer. */
  async append(messageId: string, delta: string): Promise<void> {
    if (!this.redis.enabled) {
      const progress = this.local.get(messageId) ?? { content: '', nextIndex: 0 };
      this.local.set(messageId, { content: progress.content + delta, nextIndex: progress.nextIndex + 1 });
      return;
    }
    // `{id}` is a hash tag: both keys live in one cluster slot, so the MULTI is allowed in cluster mode.
    const [content, index] = this.keys(messageId);
    await this.redis
      .client('command')
      .multi()
      .append(content, delta)
      .incr(index)
      .expire(content, PROGRESS_TTL_SECONDS)
      .expire(index, PROGRESS_TTL_SECONDS)
      .exec();
  }

  async read(messageId: string): Promise<AnswerProgress | undefined> {
    if (!this.redis.enabled) return this.local.get(messageId);
    const [content, index] = this.keys(messageId);
    const results = await this.redis.client('command').multi().get(content).get(index).exec();
    const [[, text], [, next]] = results as [[Error | null, string | null], [Error | null, string | null]];
    return next === null ? undefined : { content: text ?? '', nextIndex: Number(next) };
  }

  async clear(messageId: string): Promise<void> {
    this.local.delete(messageId);
    if (this.redis.enabled) await this.redis.client('command').del(...this.keys(messageId));
  }

  private keys(messageId: string): [string, string] {
    const { content, next } = answerProgressKeys(this.redis.config.keyPrefix, messageId);
    return [content, next];
  }
}
