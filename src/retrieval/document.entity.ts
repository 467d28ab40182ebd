import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  PrimaryColumn,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';

/** One ingested file, whole. Keyed by its path inside the ingested folder. */
@Entity({ name: 'documents' })
@Index('uq_documents_source_path', ['sourcePath'], { unique: true })
export class StoredDocument {
  /** A UUID made at first ingest and kept across re-ingests: the `id` of the sources that cite it. */
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'varchar', length: 300 })
  title!: string;

  /** The file's path relative to the ingested folder, with `/` separators. */
  @Column({ name: 'source_path', type: 'varchar', length: 1024 })
  sourcePath!: string;

  @Column({ type: 'text' })
  content!: string;

  /** SHA-256 of the content (and of the chunking scheme): an unchanged file is skipped. */
  @Column({ name: 'content_hash', type: 'varchar', length: 64 })
  contentHash!: string;

  @CreateDateColumn({ name: 'created_at' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at' })
  updatedAt!: Date;
}

/** A passage, the unit the full-text index covers; `title` is copied from the document to be searched too. */
@Entity({ name: 'document_chunks' })
@Index('uq_document_chunks_position', ['documentId', 'position'], { unique: true })
export class DocumentChunk {
  /** An integer so it can be the FTS5 rowid (stable across VACUUM, never reused). */
  @PrimaryGeneratedColumn('increment')
  id!: number;

  @Column({ name: 'document_id', type: 'varchar', length: 36 })
  documentId!: string;

  @Column({ type: 'integer' })
  position!: number;

  @Column({ type: 'varchar', length: 300 })
  title!: string;

  @Column({ type: 'text' })
  content!: string;
}
