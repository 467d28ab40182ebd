import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { ConversationsModule } from '../conversations/conversations.module.js';
import { LlmModule } from '../llm/llm.module.js';
import { SessionModule } from '../session/session.module.js';
import { AnswerMetrics } from './answer.metrics.js';
import { AnswerProgressStore, MemoryAnswerProgressStore } from './answer-progress.store.js';
import { AnswerService } from './answer.service.js';
import { ChatEmitter } from './chat-emitter.js';
import { ChatGateway } from './chat.gateway.js';
import { ChatRateLimiter, EVENT_LIMITER, eventLimiterFor } from './chat-rate-limiter.js';
import { RedisAnswerProgressStore } from './redis-answer-progress.store.js';
import { RedisManager } from '../redis/redis.manager.js';
import { ChatService } from './chat.service.js';
import { StaleAnswerSweeper } from './stale-answer.sweeper.js';

@Module({
  // RETRIEVER and Registry come from the global RetrievalModule and MetricsModule.
  imports: [AuthModule, ConversationsModule, SessionModule, LlmModule],
  providers: [
    ChatGateway,
    ChatEmitter,
    ChatService,
    ChatRateLimiter,
    AnswerService,
    AnswerMetrics,
    // Redis or memory, chosen once here (as SessionModule does for the session store).
    {
      provide: AnswerProgressStore,
      inject: [RedisManager],
      useFactory: (redis: RedisManager) =>
        redis.enabled ? new RedisAnswerProgressStore(redis) : new MemoryAnswerProgressStore(),
    },
    { provide: EVENT_LIMITER, inject: [RedisManager], useFactory: eventLimiterFor },
    StaleAnswerSweeper,
  ],
  // ChatService: the HTTP API (src/service-api) posts through the same rules and broadcast.
  exports: [ChatEmitter, ChatService],
})
export class ChatCoreModule {}
