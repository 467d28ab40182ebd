import { IsString, Length } from 'class-validator';

export class ConversationRefDto {
  @IsString({ message: 'conversationId must be a string' })
  @Length(1, 64, { message: 'conversationId must be 1 to 64 characters' })
  conversationId!: string;
}
