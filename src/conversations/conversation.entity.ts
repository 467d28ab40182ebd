import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

@Entity({ name: 'conversations' })
export class Conversation {
  /** A UUID made by the service, so ids look alike on SQLite and PostgreSQL. */
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'varchar', length: 200, nullable: true })
  title!: string | null;

  @Column({ name: 'created_by', type: 'varchar', length: 128 })
  createdBy!: string;

  /** PostgreSQL's per-conversation seq counter (see ConversationsService); SQLite derives seq from MAX. */
  @Column({ name: 'last_seq', type: 'integer', default: 0 })
  lastSeq!: number;

  @CreateDateColumn({ name: 'created_at' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at' })
  updatedAt!: Date;
}
