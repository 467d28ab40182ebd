import { IsInt, Min } from 'class-validator';
import { ConversationRefDto } from './conversation-ref.dto.js';

export class SyncConversationDto extends ConversationRefDto {
  /** The highest `seq` the client already has; 0 for everything. */
  @IsInt({ message: 'afterSeq must be an integer' })
  @Min(0, { message: 'afterSeq must be >= 0' })
  afterSeq!: number;
}
