import { CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

@Entity({ name: 'conversation_members' })
@Index('idx_conversation_members_user', ['userId'])
export class ConversationMember {
  @PrimaryColumn({ name: 'conversation_id', type: 'varchar', length: 36 })
  conversationId!: string;

  @PrimaryColumn({ name: 'user_id', type: 'varchar', length: 128 })
  userId!: string;

  @CreateDateColumn({ name: 'joined_at' })
  joinedAt!: Date;
}
