import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { ConversationRefDto } from './conversation-ref.dto.js';

/** The most messages one `conversation:sync` page may ask for. */
const SYNC_PAGE_MAX = 200;
export const SYNC_PAGE_DEFAULT = 100;

export class SyncConversationDto extends ConversationRefDto {
  /** The highest `seq` the client already has; 0 for everything. */
  @IsInt({ message: 'afterSeq must be an integer' })
  @Min(0, { message: 'afterSeq must be >= 0' })
  afterSeq!: number;

  /** Page size; the client asks again from the last `seq` while `hasMore`. */
  @IsOptional()
  @IsInt({ message: `limit must be an integer from 1 to ${SYNC_PAGE_MAX}` })
  @Min(1, { message: `limit must be an integer from 1 to ${SYNC_PAGE_MAX}` })
  @Max(SYNC_PAGE_MAX, { message: `limit must be an integer from 1 to ${SYNC_PAGE_MAX}` })
  limit?: number;
}
