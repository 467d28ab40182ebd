import { type MigrationInterface, type QueryRunner, TableIndex } from 'typeorm';

/**
 * `idx_messages_status` indexed every message, yet only the stale-answer sweeper reads by status, and
 * only for `streaming` rows (a few at any time). Each insert paid a page write into it; a partial index
 * over the streaming rows (SQLite and PostgreSQL both have them) costs a completed message nothing.
 */
export class StreamingIndex1764400000000 implements MigrationInterface {
  name = 'StreamingIndex1764400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('messages', 'idx_messages_status');
    await queryRunner.createIndex(
      'messages',
      new TableIndex({
        name: 'idx_messages_streaming',
        columnNames: ['status'],
        where: "status = 'streaming'",
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('messages', 'idx_messages_streaming');
    await queryRunner.createIndex(
      'messages',
      new TableIndex({ name: 'idx_messages_status', columnNames: ['status'] }),
    );
  }
}
