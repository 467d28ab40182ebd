import { Injectable } from '@nestjs/common';
import type { MessageView } from '../conversations/message.view.js';
import { type ChatNamespace, type ChatSocket, type ErrorBody, roomOf } from './chat.events.js';

/** The one way to the chat namespace: every server-to-client event is built and sent here. */
@Injectable()
export class ChatEmitter {
  private attached?: ChatNamespace;

  /** Called once, by ChatGateway, when Socket.IO has created the namespace. */
  attach(namespace: ChatNamespace): void {
    this.attached = namespace;
  }

  /** The `/chat` namespace, for the parts that work below events: the pub/sub canary, the sticky worker. */
  get namespace(): ChatNamespace {
    if (!this.attached)
      throw new Error('ChatEmitter: the chat namespace is not created yet (app.init() first)');
    return this.attached;
  }

  /** A stored message, or an answer starting (`status: "streaming"`). */
  messageNew(message: MessageView): void {
    this.room(message.conversationId).emit('message:new', message);
  }

  messageDelta(conversationId: string, messageId: string, index: number, delta: string): void {
    this.room(conversationId).emit('message:delta', { conversationId, messageId, index, delta });
  }

  messageDone(message: MessageView): void {
    this.room(message.conversationId).emit('message:done', {
      conversationId: message.conversationId,
      message,
    });
  }

  messageError(conversationId: string, messageId: string, error: ErrorBody): void {
    this.room(conversationId).emit('message:error', { conversationId, messageId, error });
  }

  /** `typing` to the others of the room (not back to the typist). */
  typing(from: ChatSocket, conversationId: string, isTyping: boolean): void {
    const { id: userId, name } = from.data.user;
    from.to(roomOf(conversationId)).emit('typing', { conversationId, userId, name, isTyping });
  }

  /** Closes THIS process's client transports so they reconnect elsewhere (not `disconnectSockets()`). */
  closeLocalTransports(): number {
    const engine = this.attached?.server.engine as unknown as
      { clients: Record<string, { close(): void }> } | undefined;
    if (!engine) return 0;
    const clients = Object.values(engine.clients);
    for (const client of clients) client.close();
    return clients.length;
  }

  private room(conversationId: string) {
    return this.namespace.to(roomOf(conversationId));
  }
}
