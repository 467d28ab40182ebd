import { ConversationRefDto } from './conversation-ref.dto.js';
import { IsClientMessageId, IsMessageContent } from './message-fields.js';

export class SendMessageDto extends ConversationRefDto {
  @IsMessageContent()
  content!: string;

  @IsClientMessageId()
  clientMessageId?: string;
}
