import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { clampLimit, type RetrievedSource, type RetrieveOptions, type Retriever } from './retriever.js';
import { searchTerms, tidySnippet } from './text.js';

interface Hit {
  id: string;
  title: string;
  snippet: string;
  /** Higher is better, from 0 to 1. */
  score: number;
}

/**
 * The default retriever: full-text search over ingested documents (FTS5 `bm25()`, PostgreSQL `ts_rank()`).
 * Any word of the question matches; a document's best passage stands for it.
 */
@Injectable()
export class DatabaseRetriever implements Retriever {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async retrieve(query: string, options: RetrieveOptions = {}): Promise<RetrievedSource[]> {
    options.signal?.throwIfAborted();
    const terms = searchTerms(typeof query === 'string' ? query : '');
    if (terms.length === 0) return [];
    const limit = clampLimit(options.limit);
    const hits =
      this.dataSource.options.type === 'postgres'
        ? await this.searchPostgres(terms, limit)
        : await this.searchSqlite(terms, limit);
    options.signal?.throwIfAborted();
    return hits.map((hit) => ({
      id: hit.id,
      title: hit.title,
      snippet: tidySnippet(hit.snippet),
      score: Math.round(hit.score * 10_000) / 10_000,
    }));
  }

  private async searchSqlite(terms: string[], limit: number): Promise<Hit[]> {
    // Each term is letters and digits only, quoted: FTS5 sees strings, never operators (NEAR, -, :, *).
    const match = terms.map((term) => `"${term}"`).join(' OR ');
    const ranked: { chunkId: number; documentId: string; rank: number }[] = await this.dataSource.query(
      // Each document keeps its best passage, so one huge document cannot crowd out the others.
      // MATERIALIZED: bm25() only works in a query over the FTS5 table, not one flattened into the GROUP BY.
      `WITH hits AS MATERIALIZED (
         SELECT rowid AS chunk_id, bm25(document_chunks_fts, 2.0, 1.0) AS rank
         FROM document_chunks_fts WHERE document_chunks_fts MATCH ?
       )
       SELECT h.chunk_id AS "chunkId", c.document_id AS "documentId", min(h.rank) AS rank
       FROM hits h JOIN document_chunks c ON c.id = h.chunk_id
       GROUP BY c.document_id ORDER BY rank, c.document_id LIMIT ?`,
      [match, limit],
    );
    if (ranked.length === 0) return [];
    const quoted: { chunkId: number; title: string; snippet: string }[] = await this.dataSource.query(
      `SELECT f.rowid AS "chunkId", c.title, snippet(document_chunks_fts, 1, '', '', '…', 48) AS snippet
       FROM document_chunks_fts f JOIN document_chunks c ON c.id = f.rowid
       WHERE document_chunks_fts MATCH ? AND f.rowid IN (${ranked.map(() => '?').join(', ')})`,
      [match, ...ranked.map((row) => row.chunkId)],
    );
    const byChunk = new Map(quoted.map((row) => [Number(row.chunkId), row]));
    return ranked.flatMap((row) => {
      const passage = byChunk.get(Number(row.chunkId));
      if (!passage) return [];
      // bm25() is negative, more negative is better; s / (1 + s) maps it onto 0..1, order kept.
      const strength = Math.max(0, -row.rank);
      return [
        {
          id: row.documentId,
          title: passage.title,
          snippet: passage.snippet,
          score: strength / (1 + strength),
        },
      ];
    });
  }

  private async searchPostgres(terms: string[], limit: number): Promise<Hit[]> {
    // websearch_to_tsquery never raises a syntax error; the terms are letters and digits joined by "or".
    const rows: { id: string; title: string; snippet: string; score: number }[] = await this.dataSource.query(
      `WITH query AS (SELECT websearch_to_tsquery('english', $1) AS q),
       hits AS (
         SELECT c.id, c.document_id, ts_rank(c.search, query.q, 32) AS rank
         FROM document_chunks c, query WHERE c.search @@ query.q
       ),
       best AS (
         SELECT DISTINCT ON (document_id) id, document_id, rank FROM hits ORDER BY document_id, rank DESC, id
       ),
       top AS (SELECT * FROM best ORDER BY rank DESC, document_id LIMIT $2)
       SELECT top.document_id AS id, c.title, top.rank AS score,
              ts_headline('english', c.content, query.q,
                'StartSel="", StopSel="", MinWords=20, MaxWords=45, ShortWord=2') AS snippet
       FROM top JOIN document_chunks c ON c.id = top.id, query
       ORDER BY top.rank DESC, top.document_id`,
      [terms.join(' or '), limit],
    );
    return rows.map((row) => ({ ...row, score: Number(row.score) }));
  }
}
