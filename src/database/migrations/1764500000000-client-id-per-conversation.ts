import type { MigrationInterface, QueryRunner } from 'typeorm';

/** `clientMessageId` unique per conversation and author; the new index comes before the old one goes. */
export class ClientIdPerConversation1764500000000 implements MigrationInterface {
  name = 'ClientIdPerConversation1764500000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      'CREATE UNIQUE INDEX IF NOT EXISTS uq_messages_conversation_author_client_id ' +
        'ON messages (conversation_id, author_id, client_message_id)',
    );
    await queryRunner.query('DROP INDEX IF EXISTS uq_messages_author_client_id');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      'CREATE UNIQUE INDEX IF NOT EXISTS uq_messages_author_client_id ON messages (author_id, client_message_id)',
    );
    await queryRunner.query('DROP INDEX IF EXISTS uq_messages_conversation_author_client_id');
  }
}
