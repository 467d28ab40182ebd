import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { ChatCoreModule } from '../chat/chat.module.js';
import { ConversationMessagesController } from './conversation-messages.controller.js';
import { ServiceTokenGuard } from './service-token.guard.js';

/** The HTTP API for other services (contract §6): `POST /api/conversations/:id/messages`. */
@Module({
  imports: [AuthModule, ChatCoreModule],
  controllers: [ConversationMessagesController],
  providers: [ServiceTokenGuard],
})
export class ServiceApiModule {}
