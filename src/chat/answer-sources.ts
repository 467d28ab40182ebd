import type { MessageSource } from '../conversations/message.entity.js';
import { SNIPPET_MAX_CHARS } from '../retrieval/retriever.js';

/** Longest source id or title kept. */
export const SOURCE_LABEL_MAX_CHARS = 200;

/** `text` cut to `max` UTF-16 units, without leaving half a surrogate pair at the end. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

/** A source in the contract's shape, cut so `message:done` stays under 64 KiB; undefined for a non-object. */
export function asReference(source: unknown): MessageSource | undefined {
  if (typeof source !== 'object' || source === null) return undefined;
  const { id, title, snippet, score } = source as Partial<Record<keyof MessageSource, unknown>>;
  const text = (value: unknown) =>
    typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '';
  return {
    id: cut(text(id), SOURCE_LABEL_MAX_CHARS),
    title: cut(text(title), SOURCE_LABEL_MAX_CHARS),
    snippet: cut(text(snippet), SNIPPET_MAX_CHARS),
    score: typeof score === 'number' && Number.isFinite(score) ? score : 0,
  };
}
