import { IsString, Length } from 'class-validator';
import { ConversationRefDto } from './conversation-ref.dto.js';

/** `answer:cancel`: the streaming assistant answer to stop. */
export class CancelAnswerDto extends ConversationRefDto {
  @IsString({ message: 'messageId must be a string' })
  @Length(1, 64, { message: 'messageId must be 1 to 64 characters' })
  messageId!: string;
}
