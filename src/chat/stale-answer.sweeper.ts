import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ConversationsService } from '../conversations/conversations.service.js';
import { CHECKPOINT_INTERVAL_MS } from './answer.service.js';
import { ChatEmitter } from './chat-emitter.js';

/** An answer whose heartbeat is this old lost its worker (heartbeats come every second). */
const STALE_AFTER_SECONDS = 30;
/** Sweep period: a dead worker's answer is failed within STALE_AFTER_SECONDS + this (< 60 s). */
const SWEEP_INTERVAL_MS = 10_000;

/** Fails answers left `streaming` by a dead worker; each is claimed by one sweeping worker. */
@Injectable()
export class StaleAnswerSweeper implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('StaleAnswerSweeper');
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly conversations: ConversationsService,
    private readonly emitter: ChatEmitter,
  ) {}

  onModuleInit(): void {
    // Jitter spreads the workers' sweeps over the period instead of all at once.
    this.timer = setInterval(
      () => void this.sweep(),
      SWEEP_INTERVAL_MS + Math.random() * CHECKPOINT_INTERVAL_MS,
    );
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  async sweep(): Promise<void> {
    try {
      for (const message of await this.conversations.failStaleAnswers(STALE_AFTER_SECONDS)) {
        this.logger.warn(`Answer ${message.id} lost its worker mid-stream; marked failed`);
        this.emitter.messageError(message.conversationId, message.id, {
          code: 'INTERNAL',
          message: 'The answer was interrupted (its worker stopped)',
        });
      }
    } catch (error) {
      this.logger.warn(`Sweep failed: ${(error as Error).message}`);
    }
  }
}
