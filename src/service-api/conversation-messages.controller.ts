import { Body, Controller, Param, Post, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { ServerResponse } from 'node:http';
import { ChatError } from '../chat/chat.error.js';
import { ChatService } from '../chat/chat.service.js';
import { PostMessageDto } from '../chat/dto/post-message.dto.js';
import { WsValidationPipe } from '../chat/ws-validation.pipe.js';
import type { MessageView } from '../conversations/message.view.js';
import { SERVICE_ID, ServiceTokenGuard, type ServiceRequest } from './service-token.guard.js';

/** Other services post into conversations: stored, broadcast to the room everywhere, never answered. */
@ApiTags('conversations')
@ApiBearerAuth()
@Controller('api/conversations')
@UseGuards(ServiceTokenGuard)
export class ConversationMessagesController {
  constructor(private readonly chat: ChatService) {}

  @Post(':id/messages')
  @ApiOperation({ summary: 'Post a message into a conversation as a service (a job, a bot)' })
  @ApiResponse({ status: 201, description: 'Stored and broadcast as message:new: `{ message }`' })
  @ApiResponse({
    status: 200,
    description: 'A repeated clientMessageId: the first message, not broadcast again',
  })
  @ApiResponse({ status: 400, description: '`{ error: { code: "VALIDATION_FAILED", message } }`' })
  @ApiResponse({ status: 401, description: 'No valid bearer token' })
  @ApiResponse({ status: 403, description: 'A token without "scope": "service"' })
  @ApiResponse({ status: 404, description: 'No conversation with this id' })
  @ApiResponse({ status: 429, description: 'The service spent its budget of 100 requests per 30 s' })
  async post(
    @Param('id') conversationId: string,
    @Body(WsValidationPipe) body: PostMessageDto,
    @Req() request: ServiceRequest,
    @Res({ passthrough: true }) response: ServerResponse,
  ): Promise<{ message: MessageView }> {
    // Ids are at most 64 characters (as in every event): a longer one names no conversation.
    if (conversationId.length > 64) throw new ChatError('NOT_FOUND', 'No conversation with this id');
    const { message, duplicate } = await this.chat.postFromService(
      request[SERVICE_ID]!,
      conversationId,
      body,
    );
    response.statusCode = duplicate ? 200 : 201;
    return { message };
  }
}
