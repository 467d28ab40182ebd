import type { MessageSource } from '../conversations/message.entity.js';
import type { ChatTurn } from '../llm/ollama.client.js';

/** Messages of history sent with each question (older ones are dropped). */
export const HISTORY_MESSAGES = 20;
/** Longest piece of one history message sent to the model. */
const HISTORY_CHARS = 4000;

const SYSTEM_PROMPT =
  'You are a helpful assistant in a team chat. Answer the last user message. When the sources below ' +
  'are relevant, base your answer on them and cite them as [1], [2], ...; when they are not, say so ' +
  'briefly and answer from general knowledge.';

/** The Ollama conversation for one answer: instructions with the sources, then the bounded history. */
export function buildPrompt(
  history: { role: 'user' | 'assistant'; content: string }[],
  sources: MessageSource[],
): ChatTurn[] {
  const sourceText = sources.length
    ? `\n\nSources:\n${sources.map((s, i) => `[${i + 1}] ${s.title}: ${s.snippet}`).join('\n')}`
    : '\n\nNo sources matched this question.';
  return [
    { role: 'system', content: SYSTEM_PROMPT + sourceText },
    ...history
      .slice(-HISTORY_MESSAGES)
      .map(({ role, content }) => ({ role, content: content.slice(0, HISTORY_CHARS) })),
  ];
}
