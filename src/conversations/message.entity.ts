import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';

export type MessageRole = 'user' | 'assistant';
export type MessageStatus = 'complete' | 'streaming' | 'failed' | 'cancelled';

/** A retrieved passage an answer rests on: a reference with a short snippet, never a whole document. */
export interface MessageSource {
  id: string;
  title: string;
  snippet: string;
  score: number;
}

@Entity({ name: 'messages' })
@Index('uq_messages_conversation_seq', ['conversationId', 'seq'], { unique: true })
@Index('uq_messages_conversation_author_client_id', ['conversationId', 'authorId', 'clientMessageId'], {
  unique: true,
})
// Only streaming answers are looked up by status (the stale-answer sweeper): see StreamingIndex1764400000000.
@Index('idx_messages_streaming', ['status'], { where: "status = 'streaming'" })
export class Message {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ name: 'conversation_id', type: 'varchar', length: 36 })
  conversationId!: string;

  /** Rises by one per message within its conversation; clients sync by it. */
  @Column({ type: 'integer' })
  seq!: number;

  @Column({ type: 'varchar', length: 16 })
  role!: MessageRole;

  @Column({ name: 'author_id', type: 'varchar', length: 128 })
  authorId!: string;

  @Column({ type: 'text' })
  content!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: MessageStatus;

  @Column({ type: 'simple-json', nullable: true })
  sources!: MessageSource[] | null;

  /** The sender's idempotency key: a retried send returns the first message instead of a second. */
  @Column({ name: 'client_message_id', type: 'varchar', length: 128, nullable: true })
  clientMessageId!: string | null;

  /** For a streaming answer: the `index` of the first delta not yet in `content` (saved together). */
  @Column({ name: 'stream_index', type: 'integer', default: 0 })
  streamIndex!: number;

  @CreateDateColumn({ name: 'created_at' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at' })
  updatedAt!: Date;
}
