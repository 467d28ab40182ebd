import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A partial index over `streaming` rows, the only ones read by status. On a large PostgreSQL table build it
 * first: `CREATE INDEX CONCURRENTLY idx_messages_streaming ON messages (status) WHERE status = 'streaming'`.
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
