import { Injectable } from '@nestjs/common';

/** A streaming answer's text so far and the index of its next delta. */
export interface AnswerProgress {
  content: string;
  nextIndex: number;
}

/**
 * The exact progress of every answer being streamed, readable from any worker. The database
 * checkpoint lags up to a second, so a client that joins mid-answer would miss the deltas of that
 * second; this store is written before each delta is emitted (atomically with its index), so
 * `content` + the deltas from `nextIndex` on is always the whole answer. In Redis when it is on
 * (RedisAnswerProgressStore), otherwise in this single process (MemoryAnswerProgressStore).
 */
export abstract class AnswerProgressStore {
  /** Adds `delta` as the next piece of `messageId`'s answer. */
  abstract append(messageId: string, delta: string): Promise<void>;
  abstract read(messageId: string): Promise<AnswerProgress | undefined>;
  abstract clear(messageId: string): Promise<void>;
}

/** Single-worker mode (REDIS_ENABLED=false). */
@Injectable()
export class MemoryAnswerProgressStore extends AnswerProgressStore {
  private readonly local = new Map<string, AnswerProgress>();

  async append(messageId: string, delta: string): Promise<void> {
    const progress = this.local.get(messageId) ?? { content: '', nextIndex: 0 };
    this.local.set(messageId, { content: progress.content + delta, nextIndex: progress.nextIndex + 1 });
  }

  async read(messageId: string): Promise<AnswerProgress | undefined> {
    return this.local.get(messageId);
  }

  async clear(messageId: string): Promise<void> {
    this.local.delete(messageId);
  }
}
