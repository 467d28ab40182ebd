import { Injectable } from '@nestjs/common';

/** A streaming answer's text so far and the index of its next delta. */
export interface AnswerProgress {
  content: string;
  nextIndex: number;
}

/**
 * Each streaming answer's exact progress, for any worker: written before each delta is emitted, so
 * `content` + the deltas from `nextIndex` on is the whole answer (the checkpoint lags up to a second).
 */
export abstract class AnswerProgressStore {
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
