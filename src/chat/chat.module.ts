import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { ConversationsModule } from '../conversations/conversations.module.js';
import { LlmModule } from '../llm/llm.module.js';
import { SessionModule } from '../session/session.module.js';
import { AnswerMetrics } from './answer.metrics.js';
import { AnswerProgressStore } from './answer-progress.store.js';
import { AnswerService } from './answer.service.js';
import { ChatGateway } from './chat.gateway.js';
import { ChatRateLimiter } from './chat-rate-limiter.js';
import { ChatService } from './chat.service.js';
import { StaleAnswerSweeper } from './stale-answer.sweeper.js';

@Module({
  // RETRIEVER comes from the global RetrievalModule the root module configures; Registry (for
  // AnswerMetrics) from the global MetricsModule.
  imports: [AuthModule, ConversationsModule, SessionModule, LlmModule],
  providers: [
    ChatGateway,
    ChatService,
    ChatRateLimiter,
    AnswerService,
    AnswerMetrics,
    AnswerProgressStore,
    StaleAnswerSweeper,
  ],
  exports: [ChatGateway],
})
export class ChatModule {}
