import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { DataSource, EntityManager } from 'typeorm';
import { runInTransaction } from '../database/transaction.js';
import { DocumentChunk, StoredDocument } from './document.entity.js';
import { chunkText, documentTitle, searchableText } from './text.js';

/** Files ingested: Markdown and plain text. */
const DOCUMENT_FILE = /\.(md|txt)$/i;
/** Changing how documents are chunked changes every hash, so the next ingest rewrites every document. */
const CHUNKING_SCHEME = 'chunks-v1';
const INSERT_BATCH = 100;
/** Per transaction: on SQLite a longer one could hold the write lock past the writers' 5 s busy timeout. */
export const PASSAGES_PER_TRANSACTION = 500;
/** The hash of a document whose passages are still being written: it never equals a real one. */
const PENDING = 'pending';

export type IngestOutcome = 'added' | 'updated' | 'unchanged' | 'removed' | 'failed';

export interface IngestEvent {
  /** The file's path relative to the folder, with `/` separators: the document's key. */
  path: string;
  outcome: IngestOutcome;
  /** Why it failed. */
  message?: string;
}

export interface IngestReport {
  added: number;
  updated: number;
  unchanged: number;
  removed: number;
  failed: number;
  /** Files found in the folder. */
  files: number;
}

export interface IngestOptions {
  /** Also delete the stored documents whose file is no longer in the folder. */
  prune?: boolean;
  /** Told of each file as it is handled. */
  onFile?: (event: IngestEvent) => void;
}

/**
 * Stores every `.md` and `.txt` file under `folder` (hidden entries and `node_modules` skipped), keyed by
 * its relative path: new added, changed replaced (id kept), unchanged skipped. One transaction per file
 * (or several for a large one), so an interrupted run resumes; a file that fails does not stop the others.
 */
export async function ingestFolder(
  dataSource: DataSource,
  folder: string,
  options: IngestOptions = {},
): Promise<IngestReport> {
  const paths = await documentFiles(folder);
  const report: IngestReport = {
    added: 0,
    updated: 0,
    unchanged: 0,
    removed: 0,
    failed: 0,
    files: paths.length,
  };
  const tell = (event: IngestEvent) => {
    report[event.outcome] += 1;
    options.onFile?.(event);
  };
  for (const path of paths) {
    try {
      tell({ path, outcome: await ingestFile(dataSource, path, await readFile(join(folder, path))) });
    } catch (error) {
      tell({ path, outcome: 'failed', message: (error as Error).message });
    }
  }
  if (options.prune) {
    const present = new Set(paths);
    const stored = await dataSource
      .getRepository(StoredDocument)
      .find({ select: { id: true, sourcePath: true }, order: { sourcePath: 'ASC' } });
    for (const document of stored.filter((d) => !present.has(d.sourcePath))) {
      await runInTransaction(dataSource, async (manager) => {
        await manager.delete(DocumentChunk, { documentId: document.id });
        await manager.delete(StoredDocument, { id: document.id });
      });
      tell({ path: document.sourcePath, outcome: 'removed' });
    }
  }
  return report;
}

/** Stores one file's bytes as the document at `path`; says whether it was added, updated or unchanged. */
async function ingestFile(
  dataSource: DataSource,
  path: string,
  bytes: Uint8Array,
): Promise<'added' | 'updated' | 'unchanged'> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error('not UTF-8 text');
  }
  if (text.includes('\u0000')) throw new Error('contains NUL bytes (a binary file?)');
  const content = text.replace(/^\uFEFF/, '');
  const contentHash = createHash('sha256').update(`${CHUNKING_SCHEME}\n${path}\n${content}`).digest('hex');
  const title = documentTitle(path, content);
  const passages = chunkText(searchableText(path, content));

  // Written in several transactions, the real hash comes last: an interrupted write is redone next run.
  const oneGo = passages.length <= PASSAGES_PER_TRANSACTION;
  const insertPassages = async (manager: EntityManager, id: string, from: number, to: number) => {
    for (let start = from; start < Math.min(to, passages.length); start += INSERT_BATCH) {
      await manager.insert(
        DocumentChunk,
        passages
          .slice(start, Math.min(start + INSERT_BATCH, to))
          .map((passage, i) => ({ documentId: id, position: start + i, title, content: passage })),
      );
    }
  };

  const first = await runInTransaction(dataSource, async (manager) => {
    const existing = await manager.findOne(StoredDocument, {
      where: { sourcePath: path },
      select: { id: true, contentHash: true },
    });
    if (existing?.contentHash === contentHash) return { outcome: 'unchanged' as const };
    const id = existing?.id ?? randomUUID();
    const hash = oneGo ? contentHash : PENDING;
    if (existing) {
      await manager.delete(DocumentChunk, { documentId: id });
      await manager.update(StoredDocument, { id }, { title, content, contentHash: hash });
    } else {
      await manager.insert(StoredDocument, { id, sourcePath: path, title, content, contentHash: hash });
    }
    await insertPassages(manager, id, 0, PASSAGES_PER_TRANSACTION);
    return { outcome: existing ? ('updated' as const) : ('added' as const), id };
  });
  if (first.outcome === 'unchanged' || oneGo) return first.outcome;
  const { id } = first;
  for (let start = PASSAGES_PER_TRANSACTION; start < passages.length; start += PASSAGES_PER_TRANSACTION) {
    await runInTransaction(dataSource, (manager) =>
      insertPassages(manager, id, start, start + PASSAGES_PER_TRANSACTION),
    );
  }
  await runInTransaction(dataSource, (manager) => manager.update(StoredDocument, { id }, { contentHash }));
  return first.outcome;
}

/** The `.md` and `.txt` files under `folder`, as sorted `/`-separated paths relative to it. */
async function documentFiles(folder: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (DOCUMENT_FILE.test(entry.name)) {
        // A symbolic link counts when it leads to a file; linked folders are not followed (no cycles).
        if (entry.isFile() || (entry.isSymbolicLink() && (await stat(full).catch(() => null))?.isFile())) {
          found.push(relative(folder, full).split(sep).join('/'));
        }
      }
    }
  };
  await walk(folder);
  return found.sort();
}
