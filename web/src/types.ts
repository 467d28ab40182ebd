// Wire shapes of the /chat namespace, mirrored from the server's chat.events.ts and message.view.ts.
// Type-only module: nothing here is emitted at run time.

export interface ErrorBody {
  code: string;
  message: string;
}

/** The one ack shape; `TIMEOUT` and `DISCONNECTED` are added client side when no ack arrives. */
export type Ack<T extends object = object> = ({ ok: true } & T) | { ok: false; error: ErrorBody };

export interface Source {
  id: string;
  title: string;
  snippet: string;
  score: number;
}

export type MessageStatus = 'complete' | 'streaming' | 'failed' | 'cancelled';

export interface Message {
  id: string;
  conversationId: string;
  seq: number;
  role: 'user' | 'assistant';
  authorId: string;
  content: string;
  status: MessageStatus;
  sources?: Source[];
  /** Only while streaming: `content` holds deltas 0..nextIndex-1. */
  nextIndex?: number;
  createdAt: string;
}

export interface ConversationView {
  id: string;
  title: string | null;
  memberIds: string[];
}

export interface DeltaEvent {
  conversationId: string;
  messageId: string;
  index: number;
  delta: string;
}

export interface DoneEvent {
  conversationId: string;
  message: Message;
}

export interface ErrorEvent {
  conversationId: string;
  messageId: string;
  error: ErrorBody;
}

export interface TypingEvent {
  conversationId: string;
  userId: string;
  name: string;
  isTyping: boolean;
}

/** Who this tab is signed in as; kept in sessionStorage so a reload stays signed in. */
export interface Session {
  token: string;
  userId: string;
  name: string;
  expiresAt: number;
  /** Absent for a pasted token: such a session cannot fetch a fresh token by itself. */
  signInName?: string;
}
