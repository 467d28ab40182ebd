import { Injectable } from '@nestjs/common';

/** A streaming answer's text so far and the index of its next delta. */
export interface AnswerProgress {
  content: string;
  nextIndex: number;
}

/**
 * The exact progress of every streaming answer, readable from any worker (Redis, or memory with one
 * worker). Written before each delta is emitted, so `content` + the deltas from `nextIndex` on is always
 * the whole answer, where the database checkpoint lags up to a second.
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
