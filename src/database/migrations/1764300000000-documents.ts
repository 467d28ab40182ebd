import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';

/** Documents in passages, full-text indexed: SQLite FTS5 kept by triggers, PostgreSQL a GIN `tsvector`. */
export class Documents1764300000000 implements MigrationInterface {
  name = 'Documents1764300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const postgres = queryRunner.connection.options.type === 'postgres';
    const timestamp = postgres ? 'timestamptz' : 'datetime';
    const now = postgres ? 'now()' : "(datetime('now'))";
    const timestamps = (...names: string[]) =>
      names.map((name) => ({ name, type: timestamp, default: now, isNullable: false }));

    await queryRunner.createTable(
      new Table({
        name: 'documents',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'title', type: 'varchar', length: '300' },
          { name: 'source_path', type: 'varchar', length: '1024' },
          { name: 'content', type: 'text' },
          { name: 'content_hash', type: 'varchar', length: '64' },
          ...timestamps('created_at', 'updated_at'),
        ],
        indices: [
          new TableIndex({ name: 'uq_documents_source_path', columnNames: ['source_path'], isUnique: true }),
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'document_chunks',
        columns: [
          {
            name: 'id',
            type: 'integer',
            isPrimary: true,
            isGenerated: true,
            generationStrategy: 'increment',
          },
          { name: 'document_id', type: 'varchar', length: '36' },
          { name: 'position', type: 'integer' },
          { name: 'title', type: 'varchar', length: '300' },
          { name: 'content', type: 'text' },
        ],
        foreignKeys: [
          {
            columnNames: ['document_id'],
            referencedTableName: 'documents',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
          },
        ],
        indices: [
          new TableIndex({
            name: 'uq_document_chunks_position',
            columnNames: ['document_id', 'position'],
            isUnique: true,
          }),
        ],
      }),
    );

    if (postgres) {
      await queryRunner.query(
        `ALTER TABLE document_chunks ADD COLUMN search tsvector GENERATED ALWAYS AS (` +
          `setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', content), 'B')` +
          `) STORED`,
      );
      await queryRunner.query(
        'CREATE INDEX idx_document_chunks_search ON document_chunks USING GIN (search)',
      );
      return;
    }
    // The rowid is document_chunks.id (INTEGER PRIMARY KEY AUTOINCREMENT): stable, never reused.
    await queryRunner.query(
      `CREATE VIRTUAL TABLE document_chunks_fts USING fts5(title, content, content='document_chunks', ` +
        `content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')`,
    );
    await queryRunner.query(
      `CREATE TRIGGER document_chunks_fts_insert AFTER INSERT ON document_chunks BEGIN
        INSERT INTO document_chunks_fts(rowid, title, content) VALUES (new.id, new.title, new.content);
      END`,
    );
    await queryRunner.query(
      `CREATE TRIGGER document_chunks_fts_delete AFTER DELETE ON document_chunks BEGIN
        INSERT INTO document_chunks_fts(document_chunks_fts, rowid, title, content)
          VALUES ('delete', old.id, old.title, old.content);
      END`,
    );
    await queryRunner.query(
      `CREATE TRIGGER document_chunks_fts_update AFTER UPDATE ON document_chunks BEGIN
        INSERT INTO document_chunks_fts(document_chunks_fts, rowid, title, content)
          VALUES ('delete', old.id, old.title, old.content);
        INSERT INTO document_chunks_fts(rowid, title, content) VALUES (new.id, new.title, new.content);
      END`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    // Plain DROP TABLE: dropTable() trips over the generated column on PostgreSQL. FTS5 table first.
    if (queryRunner.connection.options.type !== 'postgres')
      await queryRunner.query('DROP TABLE document_chunks_fts');
    await queryRunner.query('DROP TABLE document_chunks');
    await queryRunner.query('DROP TABLE documents');
  }
}
