import { Injectable } from '@nestjs/common';
import { answerProgressKey } from '../redis/redis-keys.js';
import type { RedisManager } from '../redis/redis.manager.js';
import { type AnswerProgress, AnswerProgressStore } from './answer-progress.store.js';

/** Progress outlives a dead worker's answer only briefly: the sweeper fails that answer within a minute. */
const PROGRESS_TTL_SECONDS = 120;
/** The TTL is set with the first delta and renewed this often, not on every delta. */
const TTL_RENEW_MS = 30_000;

/**
 * Answer progress in Redis, shared by every worker and pod: one key per answer holding its deltas as
 * `<length>:<text>` records, so a delta costs a single APPEND (atomic: a reader sees whole records,
 * and their count is the next delta's index).
 */
@Injectable()
export class RedisAnswerProgressStore extends AnswerProgressStore {
  /** When each answer's TTL was last set, by this process (the answer's only writer). */
  private readonly ttlSetAt = new Map<string, number>();

  constructor(private readonly redis: RedisManager) {
    super();
  }

  async append(messageId: string, delta: string): Promise<void> {
    const key = this.key(messageId);
    const record = `${delta.length}:${delta}`;
    const client = this.redis.client('command');
    const now = Date.now();
    if (now - (this.ttlSetAt.get(messageId) ?? Number.NEGATIVE_INFINITY) < TTL_RENEW_MS) {
      await client.append(key, record);
      return;
    }
    this.ttlSetAt.set(messageId, now);
    await client.multi().append(key, record).expire(key, PROGRESS_TTL_SECONDS).exec();
  }

  async read(messageId: string): Promise<AnswerProgress | undefined> {
    const records = await this.redis.client('command').get(this.key(messageId));
    return records === null ? undefined : parseRecords(records);
  }

  async clear(messageId: string): Promise<void> {
    this.ttlSetAt.delete(messageId);
    await this.redis.client('command').del(this.key(messageId));
  }

  private key(messageId: string): string {
    return answerProgressKey(this.redis.config.keyPrefix, messageId);
  }
}

/** `5:Hello6: world` -> `{ content: 'Hello world', nextIndex: 2 }` (lengths in UTF-16 code units). */
export function parseRecords(records: string): AnswerProgress {
  let content = '';
  let nextIndex = 0;
  for (let at = 0; at < records.length; nextIndex++) {
    const colon = records.indexOf(':', at);
    const length = Number(records.slice(at, colon));
    content += records.slice(colon + 1, colon + 1 + length);
    at = colon + 1 + length;
  }
  return { content, nextIndex };
}
