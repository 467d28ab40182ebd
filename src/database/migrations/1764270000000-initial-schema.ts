import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';

/** Conversations, their members and messages. Written with the Table API so one file serves SQLite and PostgreSQL. */
export class InitialSchema1764270000000 implements MigrationInterface {
  name = 'InitialSchema1764270000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const postgres = queryRunner.connection.options.type === 'postgres';
    const timestamp = postgres ? 'timestamptz' : 'datetime';
    const now = postgres ? 'now()' : "(datetime('now'))";
    const timestamps = (...names: string[]) =>
      names.map((name) => ({ name, type: timestamp, default: now, isNullable: false }));

    await queryRunner.createTable(
      new Table({
        name: 'conversations',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'title', type: 'varchar', length: '200', isNullable: true },
          { name: 'created_by', type: 'varchar', length: '128' },
          { name: 'last_seq', type: 'integer', default: 0 },
          ...timestamps('created_at', 'updated_at'),
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'conversation_members',
        columns: [
          { name: 'conversation_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'user_id', type: 'varchar', length: '128', isPrimary: true },
          ...timestamps('joined_at'),
        ],
        foreignKeys: [
          {
            columnNames: ['conversation_id'],
            referencedTableName: 'conversations',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
          },
        ],
        indices: [new TableIndex({ name: 'idx_conversation_members_user', columnNames: ['user_id'] })],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'messages',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'conversation_id', type: 'varchar', length: '36' },
          { name: 'seq', type: 'integer' },
          { name: 'role', type: 'varchar', length: '16' },
          { name: 'author_id', type: 'varchar', length: '128' },
          { name: 'content', type: 'text' },
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'sources', type: 'text', isNullable: true },
          { name: 'client_message_id', type: 'varchar', length: '128', isNullable: true },
          { name: 'stream_index', type: 'integer', default: 0 },
          ...timestamps('created_at', 'updated_at'),
        ],
        foreignKeys: [
          {
            columnNames: ['conversation_id'],
            referencedTableName: 'conversations',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
          },
        ],
        indices: [
          new TableIndex({
            name: 'uq_messages_conversation_seq',
            columnNames: ['conversation_id', 'seq'],
            isUnique: true,
          }),
          new TableIndex({
            name: 'uq_messages_author_client_id',
            columnNames: ['author_id', 'client_message_id'],
            isUnique: true,
          }),
          new TableIndex({ name: 'idx_messages_status', columnNames: ['status'] }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('messages');
    await queryRunner.dropTable('conversation_members');
    await queryRunner.dropTable('conversations');
  }
}
