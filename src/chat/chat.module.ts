import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { ConversationsModule } from '../conversations/conversations.module.js';
import { SessionModule } from '../session/session.module.js';
import { ChatGateway } from './chat.gateway.js';
import { ChatRateLimiter } from './chat-rate-limiter.js';
import { ChatService } from './chat.service.js';

@Module({
  imports: [AuthModule, ConversationsModule, SessionModule],
  providers: [ChatGateway, ChatService, ChatRateLimiter],
  exports: [ChatGateway],
})
export class ChatModule {}
