import type { Message, MessageRole, MessageSource, MessageStatus } from './message.entity.js';

/** A message as the wire carries it; `createdAt` is an ISO 8601 string. */
export interface MessageView {
  id: string;
  conversationId: string;
  seq: number;
  role: MessageRole;
  authorId: string;
  content: string;
  status: MessageStatus;
  sources?: MessageSource[];
  /** While `streaming`: `content` holds deltas `0..nextIndex-1`; later `message:delta`s append to it. */
  nextIndex?: number;
  createdAt: string;
}

export interface ConversationView {
  id: string;
  title: string | null;
  memberIds: string[];
}

export function toMessageView(message: Message): MessageView {
  return {
    id: message.id,
    conversationId: message.conversationId,
    seq: message.seq,
    role: message.role,
    authorId: message.authorId,
    content: message.content,
    status: message.status,
    // An assistant message always carries an array, so a client reads `sources.length` without a guard.
    ...(message.role === 'assistant' ? { sources: message.sources ?? [] } : {}),
    ...(message.status === 'streaming' ? { nextIndex: message.streamIndex } : {}),
    createdAt: message.createdAt.toISOString(),
  };
}
