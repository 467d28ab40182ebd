import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Only the stale-answer sweeper reads by status, for `streaming` rows: a partial index costs a completed
 * message nothing. On a large PostgreSQL table, build it first without blocking inserts (`CREATE INDEX
 * CONCURRENTLY idx_messages_streaming ON messages (status) WHERE status = 'streaming'`); this then only drops the old one.
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
