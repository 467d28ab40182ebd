import type { MessageSource } from '../conversations/message.entity.js';

/**
 * The injection token of the retriever the chat asks for sources: `@Inject(RETRIEVER) retriever: Retriever`.
 * `RetrievalModule.forRoot()` binds it to the database full-text retriever unless told otherwise.
 */
export const RETRIEVER = Symbol('RETRIEVER');

/**
 * One passage an answer can rest on: the same shape as a message's `sources` entries.
 * - `id`: stable id of the document (what a client shows or links to).
 * - `title`: the document's title.
 * - `snippet`: plain text from the matching passage, at most `SNIPPET_MAX_CHARS` characters: a
 *   reference, never the whole document (every event published through Redis stays under 64 KiB).
 * - `score`: relevance, higher is better, from 0 to 1. Comparable within one retriever only.
 */
export type RetrievedSource = MessageSource;

export interface RetrieveOptions {
  /** How many sources at most: default `DEFAULT_RETRIEVE_LIMIT`, capped at `MAX_RETRIEVE_LIMIT`. */
  limit?: number;
  /** Aborted when the answer is no longer wanted; the retriever may then reject with `signal.reason`. */
  signal?: AbortSignal;
}

/**
 * Finds the sources for a user's question. Replace it with your own (vector store, search service)
 * through `RetrievalModule.forRoot({ retriever: MyRetriever })`.
 *
 * The contract every implementation keeps:
 * - results are sorted by `score`, best first, at most `limit` of them, one per document;
 * - any text is a valid question: no match, an empty string or a question full of quotes and operators
 *   resolves to `[]`, never throws;
 * - it rejects only when the store itself fails or `signal` aborts; callers treat that as "no sources".
 */
export interface Retriever {
  retrieve(query: string, options?: RetrieveOptions): Promise<RetrievedSource[]>;
}

export const DEFAULT_RETRIEVE_LIMIT = 5;
export const MAX_RETRIEVE_LIMIT = 20;
export const SNIPPET_MAX_CHARS = 300;

/** `limit` made a whole number from 1 to `MAX_RETRIEVE_LIMIT`; anything unusable means the default. */
export function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_RETRIEVE_LIMIT;
  return Math.min(MAX_RETRIEVE_LIMIT, Math.max(1, Math.floor(limit)));
}
