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

/**
 * A retrieved source as the answer carries it. A replaceable retriever may return whole passages:
 * its texts are cut here, so `message:done` (the answer and its sources, through Redis) stays under
 * the 64 KiB event limit whatever retriever is plugged in.
 */
export function asReference(source: MessageSource): MessageSource {
  return {
    id: cut(String(source.id), SOURCE_LABEL_MAX_CHARS),
    title: cut(String(source.title), SOURCE_LABEL_MAX_CHARS),
    snippet: cut(String(source.snippet), SNIPPET_MAX_CHARS),
    score: source.score,
  };
}
