// Protocol logic of a signed-in tab: joins, catch-up after reconnects, sending with retries, server events.
// It keeps state only; app.ts renders it whenever `ui.render` is called.
import type { Socket } from 'socket.io-client';
import { Connection, type ConnectionHooks } from './connection.js';
import { Conversations } from './conversations.js';
import { MessageStore, type Pending } from './messages.js';
import { TypingDisplay, TypingSender } from './typing.js';
import type {
  ConversationView,
  DeltaEvent,
  DoneEvent,
  ErrorEvent,
  Message,
  Session,
  TypingEvent,
} from './types.js';

export interface ChatUi {
  render(): void;
  notice(message: string): void;
  authLost(message: string): void;
  banner: HTMLElement;
}

export interface ChatOptions {
  transports?: ('polling' | 'websocket')[];
  syncLimit: number;
}

export const MAX_CONTENT = 8000;
/** Join failures that mean the id is wrong for this user: such a conversation leaves the list. */
const UNJOINABLE = new Set(['NOT_FOUND', 'FORBIDDEN', 'VALIDATION_FAILED']);

export class Chat {
  readonly conversations: Conversations;
  readonly connection: Connection;
  readonly typing: TypingDisplay;
  readonly typingSender: TypingSender;
  activeId: string | null = null;
  private readonly stores = new Map<string, MessageStore>();
  /** Conversations opened in this tab: joined again (and caught up) after every reconnect. */
  private readonly open = new Set<string>();
  /** Conversations the current socket is in; a new socket after a reconnect is in none. */
  private readonly joinedOnSocket = new Set<string>();

  constructor(
    readonly session: Session,
    private readonly ui: ChatUi,
    private readonly options: ChatOptions,
  ) {
    this.conversations = new Conversations(session.userId);
    this.typing = new TypingDisplay(() => ui.render());
    this.typingSender = new TypingSender((conversationId, isTyping) => {
      if (this.connection.socket.connected)
        void this.connection.request('typing', { conversationId, isTyping });
    });
    const hooks: ConnectionHooks = {
      bind: (socket) => this.bind(socket),
      onConnect: (reconnect, isCurrent) => this.connected(reconnect, isCurrent),
      onDisconnect: () => this.joinedOnSocket.clear(),
      onAuthLost: (message) => ui.authLost(message),
      notice: (message) => ui.notice(message),
    };
    this.connection = new Connection(session, hooks, ui.banner, options.transports);
  }

  store(conversationId: string): MessageStore {
    let store = this.stores.get(conversationId);
    if (!store) this.stores.set(conversationId, (store = new MessageStore()));
    return store;
  }

  close(): void {
    this.typingSender.stop();
    this.typing.clear();
    this.connection.close();
  }

  /** Makes a conversation the active one (and the URL hash), joining it when this socket is not in it yet. */
  async openConversation(id: string): Promise<void> {
    this.conversations.ensure(id);
    this.open.add(id);
    if (this.activeId !== id) this.typingSender.stop();
    this.activeId = id;
    if (decodeURIComponent(location.hash.slice(1)) !== id) location.hash = encodeURIComponent(id);
    this.ui.render();
    if (this.connection.socket.connected && !this.joinedOnSocket.has(id)) await this.join(id);
  }

  async create(title: string, memberIds: string[]): Promise<void> {
    const ack = await this.connection.request<{ conversation: ConversationView }>('conversation:create', {
      ...(title ? { title } : {}),
      ...(memberIds.length > 0 ? { memberIds } : {}),
    });
    if (!ack.ok) return this.ui.notice(`Could not create the conversation: ${ack.error.message}`);
    this.conversations.created(ack.conversation);
    await this.openConversation(ack.conversation.id);
  }

  send(content: string): boolean {
    const conversationId = this.activeId;
    const text = content.trim();
    if (!conversationId) return this.refuse('Open or create a conversation first.');
    if (!text) return false;
    if (text.length > MAX_CONTENT) return this.refuse(`A message holds at most ${MAX_CONTENT} characters.`);
    this.typingSender.stop();
    const pending = this.store(conversationId).addPending(newClientId(), text);
    void this.attempt(conversationId, pending);
    return true;
  }

  /** Resends with the same clientMessageId, so a message the server already stored is not duplicated. */
  retry(clientId: string): void {
    const conversationId = this.activeId;
    const pending = conversationId ? this.store(conversationId).pending.get(clientId) : undefined;
    if (conversationId && pending) void this.attempt(conversationId, pending);
  }

  /** `answer:cancel`: the model stops for everyone; the final message comes back in the ack and as message:done. */
  async stop(messageId: string): Promise<void> {
    const conversationId = this.activeId;
    if (!conversationId) return;
    const ack = await this.connection.request<{ message: Message }>('answer:cancel', {
      conversationId,
      messageId,
    });
    if (!ack.ok) return this.ui.notice(`Could not stop the answer (${ack.error.code}): ${ack.error.message}`);
    this.mergeAll(conversationId, [ack.message]);
  }

  private refuse(message: string): false {
    this.ui.notice(message);
    return false;
  }

  private async attempt(conversationId: string, pending: Pending): Promise<void> {
    const attempt = ++pending.attempt;
    const store = this.store(conversationId);
    pending.state = 'sending';
    pending.error = undefined;
    this.ui.render();
    if (!this.connection.socket.connected) {
      // Not emitted while offline (Socket.IO would buffer it): the reconnect resends every pending message.
      return this.unsent(pending, 'Not connected: it is resent after reconnecting.');
    }
    const ack = await this.connection.request<{ message: Message }>('message:send', {
      conversationId,
      content: pending.content,
      clientMessageId: pending.clientId,
    });
    if (ack.ok) {
      store.acked(pending.clientId, ack.message);
      this.conversations.noteSeen(conversationId, ack.message.authorId);
      return this.ui.render();
    }
    if (store.pending.get(pending.clientId) !== pending || attempt !== pending.attempt) return;
    this.ui.notice(`Message not sent (${ack.error.code}): ${ack.error.message}`);
    this.unsent(pending, ack.error.message);
  }

  private unsent(pending: Pending, error: string): void {
    pending.state = 'unsent';
    pending.error = error;
    this.ui.render();
  }

  private async join(id: string): Promise<boolean> {
    const ack = await this.connection.request<{ messages: Message[] }>('conversation:join', {
      conversationId: id,
    });
    if (!ack.ok) {
      this.ui.notice(`Could not join ${id} (${ack.error.code}): ${ack.error.message}`);
      if (UNJOINABLE.has(ack.error.code) && this.store(id).maxSeq() === 0) this.forget(id);
      return false;
    }
    this.joinedOnSocket.add(id);
    this.mergeAll(id, ack.messages);
    return true;
  }

  private forget(id: string): void {
    this.open.delete(id);
    this.conversations.remove(id);
    if (this.activeId === id) {
      this.activeId = null;
      history.replaceState(null, '', location.pathname + location.search);
    }
    this.ui.render();
  }

  private mergeAll(conversationId: string, messages: Message[]): void {
    const store = this.store(conversationId);
    for (const message of messages) {
      store.merge(message);
      if (message.role === 'user') this.conversations.noteSeen(conversationId, message.authorId);
    }
    this.ui.render();
  }

  /** First connect: join what is open. Reconnect: catch every open conversation up, then resend pending ones. */
  private async connected(reconnect: boolean, isCurrent: () => boolean): Promise<number> {
    const ids = [...this.open];
    if (!reconnect) {
      await Promise.all(ids.map((id) => this.join(id)));
      return 0;
    }
    const pages = await Promise.all(ids.map((id) => this.catchUp(id, isCurrent)));
    if (!isCurrent()) return 0;
    for (const id of ids)
      for (const pending of this.store(id).pending.values()) void this.attempt(id, pending);
    return pages.reduce((sum, n) => sum + n, 0);
  }

  /** afterSeq is taken before the join merges anything, so sync fills every gap the join's last 50 leave. */
  private async catchUp(id: string, isCurrent: () => boolean): Promise<number> {
    let afterSeq = this.store(id).maxSeq();
    if (!(await this.join(id)) || !isCurrent()) return 0;
    let pages = 0;
    for (;;) {
      const ack = await this.connection.request<{ messages: Message[]; hasMore: boolean }>(
        'conversation:sync',
        {
          conversationId: id,
          afterSeq,
          limit: this.options.syncLimit,
        },
      );
      if (!isCurrent()) return pages;
      if (!ack.ok) {
        this.ui.notice(`Catch-up of ${id} failed (${ack.error.code}): ${ack.error.message}`);
        return pages;
      }
      pages += 1;
      this.mergeAll(id, ack.messages);
      if (!ack.hasMore || ack.messages.length === 0) return pages;
      afterSeq = Math.max(afterSeq, ...ack.messages.map((m) => m.seq));
    }
  }

  private bind(socket: Socket): void {
    socket.on('message:new', (message: Message) => {
      if (message.role === 'user') this.typing.update(message.conversationId, message.authorId, '', false);
      this.mergeAll(message.conversationId, [message]);
    });
    socket.on('message:delta', (delta: DeltaEvent) => {
      if (this.store(delta.conversationId).addDelta(delta)) this.ui.render();
    });
    socket.on('message:done', ({ conversationId, message }: DoneEvent) =>
      this.mergeAll(conversationId, [message]),
    );
    socket.on('message:error', ({ conversationId, messageId, error }: ErrorEvent) => {
      this.store(conversationId).fail(messageId, error);
      this.ui.render();
    });
    socket.on('typing', ({ conversationId, userId, name, isTyping }: TypingEvent) => {
      if (userId === this.session.userId) return;
      this.conversations.noteSeen(conversationId, userId);
      this.typing.update(conversationId, userId, name, isTyping);
    });
  }
}

/** crypto.randomUUID exists only in secure contexts (https, localhost); plain http on a LAN address lacks it. */
function newClientId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
