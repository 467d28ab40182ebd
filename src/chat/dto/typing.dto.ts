import { IsBoolean } from 'class-validator';
import { ConversationRefDto } from './conversation-ref.dto.js';

export class TypingDto extends ConversationRefDto {
  @IsBoolean({ message: 'isTyping must be a boolean' })
  isTyping!: boolean;
}
