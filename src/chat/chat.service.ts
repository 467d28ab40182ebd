import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { ConversationsService } from '../conversations/conversations.service.js';
import { toMessageView } from '../conversations/message.view.js';
import { AnswerProgressStore } from './answer-progress.store.js';
import { ChatError } from './chat.error.js';
import type { AuthUser } from '../auth/auth-user.js';
import type { ConversationView, MessageView } from '../conversations/message.view.js';
import { ChatRateLimiter } from './chat-rate-limiter.js';
import { ChatEmitter } from './chat-emitter.js';
import type { PostMessageDto } from './dto/post-message.dto.js';
import type { CreateConversationDto } from './dto/create-conversation.dto.js';
import type { SendMessageDto } from './dto/send-message.dto.js';

/** The chat's use cases, free of Socket.IO: who may do what, and what is stored. */
/** Memberships confirmed recently: safe as membership only grows (the TTL bounds it if removal comes). */
const MEMBERSHIP_CACHE = { max: 50_000, ttl: 60_000 };

@Injectable()
export class ChatService {
  private readonly knownMembers = new LRUCache<string, true>(MEMBERSHIP_CACHE);

  constructor(
    private readonly conversations: ConversationsService,
    private readonly rateLimiter: ChatRateLimiter,
    private readonly progress: AnswerProgressStore,
    private readonly emitter: ChatEmitter,
  ) {}

  async createConversation(user: AuthUser, dto: CreateConversationDto): Promise<ConversationView> {
    await this.rateLimiter.consume(user.id);
    return this.conversations.create(user.id, dto.title, dto.memberIds);
  }

  /** Checks membership; the recent history comes back for `conversation:join`. */
  async join(user: AuthUser, conversationId: string): Promise<MessageView[]> {
    await this.rateLimiter.consume(user.id);
    await this.assertMember(user, conversationId);
    return (await this.conversations.recentMessages(conversationId)).map(toMessageView);
  }

  /** A page of the messages after `afterSeq`; answers still streaming carry their exact progress (see AnswerProgressStore). */
  async sync(
    user: AuthUser,
    conversationId: string,
    afterSeq: number,
    limit: number,
  ): Promise<{ messages: MessageView[]; hasMore: boolean }> {
    await this.rateLimiter.consume(user.id);
    await this.assertMember(user, conversationId);
    const page = await this.conversations.messagesAfter(conversationId, afterSeq, limit);
    const messages = await Promise.all(
      page.messages.map((message) => this.withProgress(toMessageView(message))),
    );
    return { messages, hasMore: page.hasMore };
  }

  private async withProgress(message: MessageView): Promise<MessageView> {
    if (message.status !== 'streaming') return message;
    const live = await this.progress.read(message.id).catch(() => undefined);
    return live && live.nextIndex >= (message.nextIndex ?? 0) ? { ...message, ...live } : message;
  }

  /** A member's view of an assistant answer of the conversation (NOT_FOUND otherwise), for `answer:cancel`. */
  async answerFor(user: AuthUser, conversationId: string, messageId: string): Promise<MessageView> {
    await this.rateLimiter.consume(user.id);
    await this.assertMember(user, conversationId);
    const answer = await this.conversations.findAnswer(conversationId, messageId);
    if (!answer) throw new ChatError('NOT_FOUND', 'No assistant answer with this id in this conversation');
    return toMessageView(answer);
  }

  /**
   * Ends a streaming answer `cancelled` here, when the worker generating it did not (it is gone): the
   * content of its last checkpoint is kept. Returns the final message, and whether this call ended it.
   */
  async cancelOrphanedAnswer(answer: MessageView): Promise<{ message: MessageView; won: boolean }> {
    const { message, won } = await this.conversations.finish(
      answer.id,
      'cancelled',
      answer.content,
      answer.sources ?? [],
    );
    return { message: toMessageView(message), won };
  }

  /** The answer as stored now. */
  async reloadAnswer(answer: MessageView): Promise<MessageView> {
    const message = await this.conversations.findAnswer(answer.conversationId, answer.id);
    return message ? toMessageView(message) : answer;
  }

  /** Spends one event of the user's budget (an event that touches nothing else, like `auth:refresh`). */
  async spendEvent(user: AuthUser): Promise<void> {
    await this.rateLimiter.consume(user.id);
  }

  /** `conversation:leave` costs a point of the rate limit like every event; the room itself is the socket's. */
  async leave(user: AuthUser): Promise<void> {
    await this.rateLimiter.consume(user.id);
  }

  /** Whether this `typing` may be relayed (its own budget; it spends none of the event limit). */
  allowTyping(user: AuthUser, conversationId: string): Promise<boolean> {
    return this.rateLimiter.allowTyping(user.id, conversationId);
  }

  /** Commits the user's message; `duplicate` when its clientMessageId was seen before (nothing new to broadcast). */
  async send(user: AuthUser, dto: SendMessageDto): Promise<{ message: MessageView; duplicate: boolean }> {
    await this.rateLimiter.consume(user.id);
    await this.assertMember(user, dto.conversationId);
    const { message, duplicate } = await this.conversations.append({
      conversationId: dto.conversationId,
      authorId: user.id,
      role: 'user',
      content: dto.content,
      status: 'complete',
      clientMessageId: dto.clientMessageId,
    });
    return { message: toMessageView(message), duplicate };
  }

  /**
   * A message from another service (the HTTP API): stored like a user's and broadcast to the room on
   * every worker and instance, never answered. `authorId` defaults to the service's own id, `role` to
   * assistant; a repeated clientMessageId returns the first message without a second broadcast.
   */
  async postFromService(
    serviceId: string,
    conversationId: string,
    dto: PostMessageDto,
  ): Promise<{ message: MessageView; duplicate: boolean }> {
    await this.rateLimiter.consume(`service:${serviceId}`);
    if (!(await this.conversations.exists(conversationId)))
      throw new ChatError('NOT_FOUND', 'No conversation with this id');
    const { message, duplicate } = await this.conversations.append({
      conversationId,
      authorId: dto.authorId ?? serviceId,
      role: dto.role ?? 'assistant',
      content: dto.content,
      status: 'complete',
      clientMessageId: dto.clientMessageId,
    });
    const view = toMessageView(message);
    if (!duplicate) this.emitter.messageNew(view);
    return { message: view, duplicate };
  }

  /** FORBIDDEN unless a member; an unknown conversation answers the same, so ids cannot be probed. */
  async assertMember(user: AuthUser, conversationId: string): Promise<void> {
    const key = `${conversationId}\n${user.id}`;
    if (this.knownMembers.has(key)) return;
    if (!(await this.conversations.isMember(conversationId, user.id)))
      throw new ChatError('FORBIDDEN', 'You are not a member of this conversation');
    this.knownMembers.set(key, true);
  }
}
