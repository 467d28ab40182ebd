import type { Namespace, Socket } from 'socket.io';
import type { AuthUser } from '../auth/auth-user.js';
import type { ConversationView, MessageView } from '../conversations/message.view.js';

/** Every code an ack or `message:error` can carry (CONTRACT section 4). */
export type ErrorCode =
  | 'VALIDATION_FAILED'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'RATE_LIMITED'
  | 'LLM_UNAVAILABLE'
  | 'INTERNAL';

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

/** The one ack shape: `{ ok: true, ...result }` or `{ ok: false, error }`. */
export type Ack<T extends object = object> = ({ ok: true } & T) | { ok: false; error: ErrorBody };
export type AckCallback<T extends object = object> = (response: Ack<T>) => void;

/** Client -> server events and their acks. Payloads arrive untrusted: the DTOs in dto/ validate them. */
export interface ClientToServerEvents {
  'conversation:create': (payload: unknown, ack?: AckCallback<{ conversation: ConversationView }>) => void;
  'conversation:join': (
    payload: unknown,
    ack?: AckCallback<{ conversationId: string; messages: MessageView[] }>,
  ) => void;
  'conversation:leave': (payload: unknown, ack?: AckCallback) => void;
  'conversation:sync': (
    payload: unknown,
    ack?: AckCallback<{ messages: MessageView[]; hasMore: boolean }>,
  ) => void;
  'message:send': (payload: unknown, ack?: AckCallback<{ message: MessageView }>) => void;
  typing: (payload: unknown, ack?: AckCallback) => void;
  'auth:refresh': (payload: unknown, ack?: AckCallback<{ expiresAt: number }>) => void;
  'answer:cancel': (payload: unknown, ack?: AckCallback<{ message: MessageView }>) => void;
}

/** Server -> client events, sent to every socket in a conversation's room on every worker and pod. */
export interface ServerToClientEvents {
  'message:new': (message: MessageView) => void;
  'message:delta': (delta: {
    conversationId: string;
    messageId: string;
    index: number;
    delta: string;
  }) => void;
  'message:done': (done: { conversationId: string; message: MessageView }) => void;
  'message:error': (failure: { conversationId: string; messageId: string; error: ErrorBody }) => void;
  typing: (typing: { conversationId: string; userId: string; name: string; isTyping: boolean }) => void;
}

export interface SocketData {
  user: AuthUser;
  /** Token expiry, epoch seconds. */
  expiresAt: number;
}

/** Between the workers and pods, through the adapter (`serverSideEmit`). */
export interface InterServerEvents {
  /** Stop this answer if you are generating it. */
  'answer:cancel': (messageId: string) => void;
}

export type ChatNamespace = Namespace<
  ClientToServerEvents,
  ServerToClientEvents,
  InterServerEvents,
  SocketData
>;
export type ChatSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export const roomOf = (conversationId: string) => `conversation:${conversationId}`;
