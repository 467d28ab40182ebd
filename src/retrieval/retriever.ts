import type { MessageSource } from '../conversations/message.entity.js';

/** Injection token of the retriever: `@Inject(RETRIEVER) retriever: Retriever`. */
export const RETRIEVER = Symbol('RETRIEVER');

/** A message's `sources` entry: a snippet of at most SNIPPET_MAX_CHARS, a `score` from 0 to 1. */
export type RetrievedSource = MessageSource;

export interface RetrieveOptions {
  /** How many sources at most: default `DEFAULT_RETRIEVE_LIMIT`, capped at `MAX_RETRIEVE_LIMIT`. */
  limit?: number;
  /** Aborted when the answer is no longer wanted; the retriever may then reject with `signal.reason`. */
  signal?: AbortSignal;
}

/**
 * Finds the sources for a question; replaceable through `RetrievalModule.forRoot`. Contract: sorted by
 * score, at most `limit`, one per document; any text is a valid question (no match resolves to `[]`);
 * rejects only when the store fails or `signal` aborts.
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
