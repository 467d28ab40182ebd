import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `idx_messages_status` indexed every message, yet only the stale-answer sweeper reads by status, and
 * only for `streaming` rows (a few at any time). Each insert paid a page write into it; a partial index
 * over the streaming rows (SQLite and PostgreSQL both have them, with this same syntax) costs a
 * completed message nothing.
 *
 * Building the index scans `messages` and, inside the migration's transaction, blocks inserts
 * meanwhile. On a large PostgreSQL table build it first, without blocking:
 * `CREATE INDEX CONCURRENTLY idx_messages_streaming ON messages (status) WHERE status = 'streaming'`;
 * this migration then finds it and only drops the old index.
 */
export class StreamingIndex1764400000000 implements MigrationInterface {
  name = 'StreamingIndex1764400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP INDEX IF EXISTS idx_messages_status');
    await queryRunner.query(
      "CREATE INDEX IF NOT EXISTS idx_messages_streaming ON messages (status) WHERE status = 'streaming'",
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP INDEX IF EXISTS idx_messages_streaming');
    await queryRunner.query('CREATE INDEX IF NOT EXISTS idx_messages_status ON messages (status)');
  }
}
