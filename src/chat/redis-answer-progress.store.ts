import { Injectable } from '@nestjs/common';
import { answerProgressKeys } from '../redis/redis-keys.js';
import type { RedisManager } from '../redis/redis.manager.js';
import { type AnswerProgress, AnswerProgressStore } from './answer-progress.store.js';

/** Progress outlives a dead worker's answer only briefly: the sweeper fails that answer within a minute. */
const PROGRESS_TTL_SECONDS = 120;

/** Answer progress in Redis, shared by every worker and pod. */
@Injectable()
export class RedisAnswerProgressStore extends AnswerProgressStore {
  constructor(private readonly redis: RedisManager) {
    super();
  }

  async append(messageId: string, delta: string): Promise<void> {
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
    const [content, index] = this.keys(messageId);
    const results = await this.redis.client('command').multi().get(content).get(index).exec();
    const [[, text], [, next]] = results as [[Error | null, string | null], [Error | null, string | null]];
    return next === null ? undefined : { content: text ?? '', nextIndex: Number(next) };
  }

  async clear(messageId: string): Promise<void> {
    await this.redis.client('command').del(...this.keys(messageId));
  }

  private keys(messageId: string): [string, string] {
    const { content, next } = answerProgressKeys(this.redis.config.keyPrefix, messageId);
    return [content, next];
  }
}
