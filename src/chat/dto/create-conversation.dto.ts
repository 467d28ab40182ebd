import { Transform } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsOptional, IsString, Length } from 'class-validator';

export class CreateConversationDto {
  @IsOptional()
  @IsString({ message: 'title must be a string' })
  @Transform(({ value }) => (typeof value === 'string' ? value.trim() : value))
  @Length(1, 200, { message: 'title must be 1 to 200 characters' })
  title?: string;

  /** Other members besides the creator, who is always one. */
  @IsOptional()
  @IsArray({ message: 'memberIds must be an array of user ids' })
  @ArrayMaxSize(100, { message: 'memberIds may hold at most 100 user ids' })
  @IsString({ each: true, message: 'memberIds must be an array of user ids' })
  @Length(1, 128, { each: true, message: 'each member id must be 1 to 128 characters' })
  memberIds?: string[];
}
