import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Length } from 'class-validator';
import { IsClientMessageId, IsMessageContent, MAX_CONTENT_LENGTH } from './message-fields.js';

/** The body of `POST /api/conversations/:id/messages` (another service posting into a conversation). */
export class PostMessageDto {
  @ApiProperty({ maxLength: MAX_CONTENT_LENGTH, description: 'The text; not only whitespace, no NUL.' })
  @IsMessageContent()
  content!: string;

  @ApiPropertyOptional({ enum: ['user', 'assistant'], default: 'assistant' })
  @IsOptional()
  @IsIn(['user', 'assistant'], { message: 'role must be user or assistant' })
  role?: 'user' | 'assistant';

  @ApiPropertyOptional({
    minLength: 1,
    maxLength: 128,
    description: "Shown as the author; the token's sub by default.",
  })
  @IsOptional()
  @IsString({ message: 'authorId must be a string' })
  @Length(1, 128, { message: 'authorId must be 1 to 128 characters' })
  authorId?: string;

  @ApiPropertyOptional({
    minLength: 1,
    maxLength: 128,
    description: 'Idempotency key per conversation and author.',
  })
  @IsClientMessageId()
  clientMessageId?: string;
}
