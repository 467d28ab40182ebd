import { type MigrationInterface, type QueryRunner, TableColumn } from 'typeorm';

/** How many deltas a streaming answer's saved content holds, so a reconnecting client can stitch the rest. */
export class MessageStreamIndex1764280000000 implements MigrationInterface {
  name = 'MessageStreamIndex1764280000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn(
      'messages',
      new TableColumn({ name: 'stream_index', type: 'integer', default: 0 }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn('messages', 'stream_index');
  }
}
