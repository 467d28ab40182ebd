import { applyDecorators } from '@nestjs/common';
import { IsOptional, IsString, Length, Matches, MaxLength, NotContains } from 'class-validator';

export const MAX_CONTENT_LENGTH = 8000;

/** A message's text, the same rules for `message:send` and the HTTP API. */
export const IsMessageContent = () =>
  applyDecorators(
    IsString({ message: 'content must be a string' }),
    MaxLength(MAX_CONTENT_LENGTH, { message: `content must be at most ${MAX_CONTENT_LENGTH} characters` }),
    Matches(/\S/, { message: 'content must not be empty' }),
    // PostgreSQL text cannot hold U+0000: refused here, for either database, with a clear error.
    NotContains('\u0000', { message: 'content must not contain NUL characters' }),
  );

/** The sender's idempotency key: a retry with the same key returns the first message. */
export const IsClientMessageId = () =>
  applyDecorators(
    IsOptional(),
    IsString({ message: 'clientMessageId must be a string' }),
    Length(1, 128, { message: 'clientMessageId must be 1 to 128 characters' }),
  );
