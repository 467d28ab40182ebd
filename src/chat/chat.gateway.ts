import { hostname } from 'node:os';
import { Logger, type OnApplicationBootstrap, UseFilters, UsePipes } from '@nestjs/common';
import {
  ConnectedSocket,
  MessageBody,
  type OnGatewayConnection,
  type OnGatewayDisconnect,
  type OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
} from '@nestjs/websockets';
import { ChatAuthenticator, type VerifiedToken } from '../auth/chat-authenticator.js';
import { socketLogFields } from '../logging/socket-log-fields.js';
import { PubsubCanary } from '../redis/pubsub-canary.js';
import { CHAT_NAMESPACE } from '../redis/redis-keys.js';
import { SessionStore } from '../session/session.store.js';
import { AnswerService } from './answer.service.js';
import { ChatEmitter } from './chat-emitter.js';
import { ChatService } from './chat.service.js';
import { guardAgainstFloods } from './socket-flood-guard.js';
import { type Ack, type ChatNamespace, type ChatSocket, roomOf } from './chat.events.js';
import type { ConversationView, MessageView } from '../conversations/message.view.js';
import { CreateConversationDto } from './dto/create-conversation.dto.js';
import { ChatError } from './chat.error.js';
import { RefreshTokenDto } from './dto/refresh-token.dto.js';
import { CancelAnswerDto } from './dto/cancel-answer.dto.js';
import { ConversationRefDto } from './dto/conversation-ref.dto.js';
import { SendMessageDto } from './dto/send-message.dto.js';
import { SYNC_PAGE_DEFAULT, SyncConversationDto } from './dto/sync-conversation.dto.js';
import { TypingDto } from './dto/typing.dto.js';
import { WsAckExceptionFilter } from './ws-ack-exception.filter.js';
import { WsValidationPipe } from './ws-validation.pipe.js';

/** setTimeout's ceiling (about 24.8 days); a later expiry is re-checked then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The chat on `/chat` (CONTRACT section 4). Auth is Socket.IO middleware: Nest guards run only on events. */
/** How long `answer:cancel` waits for the generating worker to end the answer before ending it itself. */
const CANCEL_WAIT_MS = 3000;
const CANCEL_POLL_MS = 50;

@WebSocketGateway({ namespace: CHAT_NAMESPACE })
@UseFilters(WsAckExceptionFilter)
@UsePipes(WsValidationPipe)
export class ChatGateway
  implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect, OnApplicationBootstrap
{
  private readonly logger = new Logger('ChatGateway');
  private readonly expiryTimers = new Map<string, NodeJS.Timeout>();
  private readonly instance = hostname();

  constructor(
    private readonly chat: ChatService,
    private readonly authenticator: ChatAuthenticator,
    private readonly sessions: SessionStore,
    private readonly answers: AnswerService,
    private readonly emitter: ChatEmitter,
    private readonly canary: PubsubCanary,
  ) {}

  afterInit(namespace: ChatNamespace): void {
    this.emitter.attach(namespace);
    // Another worker or pod asks whoever generates this answer to stop it.
    namespace.on('answer:cancel', (messageId: string) => this.answers.cancelLocal(messageId));
    namespace.use((socket, next) => {
      // An authenticator may be asynchronous (a JWKS lookup): a throw and a rejection are the same refusal.
      void Promise.resolve()
        .then(() => this.authenticator.verify(socket.handshake.auth?.token))
        .then(
          (verified) => this.admit(socket, verified, next),
          // One message for every refusal: a client learns nothing about why its token failed.
          () => next(new Error('unauthorized')),
        );
    });
  }

  private async admit(
    socket: ChatSocket,
    verified: VerifiedToken,
    next: (error?: Error) => void,
  ): Promise<void> {
    socket.data.user = verified.user;
    socket.data.expiresAt = verified.expiresAt;
    if (!(await this.sessions.admit(verified.user.id, socket.id)))
      return next(new Error('too_many_connections'));
    // A connection that closes before the socket is accepted never disconnects: free its slot here.
    socket.conn.once('close', () => void this.sessions.close(socket.id));
    next();
  }

  /** Once the app is up: this worker starts checking that its pub/sub subscription hears itself. */
  onApplicationBootstrap(): void {
    this.canary.start(this.emitter.namespace);
  }

  async handleConnection(socket: ChatSocket): Promise<void> {
    const { user } = socket.data;
    guardAgainstFloods(socket);
    this.scheduleExpiry(socket);
    this.logger.log({
      msg: `WebSocket connected: ${user.name} (sid: ${socket.id})`,
      ...socketLogFields(socket),
    });
    await this.sessions.open(socket.id, {
      userId: user.id,
      name: user.name,
      pid: process.pid,
      instance: this.instance,
      connectedAt: new Date().toISOString(),
    });
  }

  async handleDisconnect(socket: ChatSocket, reason?: string): Promise<void> {
    clearTimeout(this.expiryTimers.get(socket.id));
    this.expiryTimers.delete(socket.id);
    if (!socket.data.user) return;
    this.logger.log({
      msg: `WebSocket disconnected: ${socket.data.user.name} (sid: ${socket.id}): ${reason ?? 'unknown'}`,
      ...socketLogFields(socket),
      reason,
    });
    await this.sessions.close(socket.id);
  }

  @SubscribeMessage('conversation:create')
  async create(
    @ConnectedSocket() socket: ChatSocket,
    @MessageBody() dto: CreateConversationDto,
  ): Promise<Ack<{ conversation: ConversationView }>> {
    const conversation = await this.chat.createConversation(socket.data.user, dto);
    return { ok: true, conversation };
  }

  @SubscribeMessage('conversation:join')
  async join(
    @ConnectedSocket() socket: ChatSocket,
    @MessageBody() { conversationId }: ConversationRefDto,
  ): Promise<Ack<{ conversationId: string; messages: MessageView[] }>> {
    const messages = await this.chat.join(socket.data.user, conversationId);
    await socket.join(roomOf(conversationId));
    await this.sessions.setConversations(socket.id, this.joinedConversations(socket));
    this.logger.log({
      msg: `${socket.data.user.name} joined conversation ${conversationId}`,
      ...socketLogFields(socket),
      conversationId,
    });
    return { ok: true, conversationId, messages };
  }

  /** Counts against the rate limit; leaving a room the socket is not in changes nothing and writes nothing. */
  @SubscribeMessage('conversation:leave')
  async leave(
    @ConnectedSocket() socket: ChatSocket,
    @MessageBody() { conversationId }: ConversationRefDto,
  ): Promise<Ack> {
    await this.chat.leave(socket.data.user);
    const room = roomOf(conversationId);
    if (!socket.rooms.has(room)) return { ok: true };
    await socket.leave(room);
    await this.sessions.setConversations(socket.id, this.joinedConversations(socket));
    return { ok: true };
  }

  @SubscribeMessage('conversation:sync')
  async sync(
    @ConnectedSocket() socket: ChatSocket,
    @MessageBody() { conversationId, afterSeq, limit = SYNC_PAGE_DEFAULT }: SyncConversationDto,
  ): Promise<Ack<{ messages: MessageView[]; hasMore: boolean }>> {
    return { ok: true, ...(await this.chat.sync(socket.data.user, conversationId, afterSeq, limit)) };
  }

  /** Acked once committed, then broadcast; the answer starts here (not for a retried clientMessageId). */
  @SubscribeMessage('message:send')
  async send(
    @ConnectedSocket() socket: ChatSocket,
    @MessageBody() dto: SendMessageDto,
  ): Promise<Ack<{ message: MessageView }>> {
    const { message, duplicate } = await this.chat.send(socket.data.user, dto);
    if (!duplicate) {
      this.emitter.messageNew(message);
      this.answers.start(socket.data.user, message, socket.id);
    }
    return { ok: true, message };
  }

  /** Relayed only from a socket in the room, within the typing budget; past it dropped, still acked ok. */
  @SubscribeMessage('typing')
  async typing(
    @ConnectedSocket() socket: ChatSocket,
    @MessageBody() { conversationId, isTyping }: TypingDto,
  ): Promise<Ack> {
    const room = roomOf(conversationId);
    if (!socket.rooms.has(room))
      return { ok: false, error: { code: 'FORBIDDEN', message: 'Join the conversation first' } };
    if (await this.chat.allowTyping(socket.data.user, conversationId))
      this.emitter.typing(socket, conversationId, isTyping);
    return { ok: true };
  }

  private joinedConversations(socket: ChatSocket): string[] {
    return [...socket.rooms]
      .filter((room) => room.startsWith('conversation:'))
      .map((room) => room.slice('conversation:'.length));
  }

  /** Disconnects the socket when its token expires; the client must reconnect with a fresh token. */
  /**
   * Stops a streaming answer wherever it is generated: here, or on the worker or pod that asks Ollama for
   * it (told through the adapter). Answers once the answer is final; a worker that never ends it (gone)
   * leaves it to be ended here after CANCEL_WAIT_MS. An answer already final is returned unchanged.
   */
  @SubscribeMessage('answer:cancel')
  async cancelAnswer(
    @ConnectedSocket() socket: ChatSocket,
    @MessageBody() { conversationId, messageId }: CancelAnswerDto,
  ): Promise<Ack<{ message: MessageView }>> {
    const answer = await this.chat.answerFor(socket.data.user, conversationId, messageId);
    if (answer.status !== 'streaming') return { ok: true, message: answer };
    if (!this.answers.cancelLocal(messageId))
      this.emitter.namespace.serverSideEmit('answer:cancel', messageId);
    const deadline = Date.now() + CANCEL_WAIT_MS;
    let current = answer;
    while (current.status === 'streaming' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, CANCEL_POLL_MS));
      current = await this.chat.reloadAnswer(answer);
    }
    if (current.status !== 'streaming') return { ok: true, message: current };
    const { message, won } = await this.chat.cancelOrphanedAnswer(current);
    if (won) this.emitter.messageDone(message);
    return { ok: true, message };
  }

  /**
   * A new token for this socket, without reconnecting: valid and of the same user, else UNAUTHORIZED and
   * the old expiry stands. The expiry timer re-reads `expiresAt` when it fires, so it follows the new one.
   */
  @SubscribeMessage('auth:refresh')
  async refreshToken(
    @ConnectedSocket() socket: ChatSocket,
    @MessageBody() { token }: RefreshTokenDto,
  ): Promise<Ack<{ expiresAt: number }>> {
    await this.chat.spendEvent(socket.data.user);
    let verified: VerifiedToken;
    try {
      verified = await this.authenticator.verify(token);
    } catch {
      throw new ChatError('UNAUTHORIZED', 'The token was refused');
    }
    if (verified.user.id !== socket.data.user.id)
      throw new ChatError('UNAUTHORIZED', 'The token was refused');
    socket.data.expiresAt = verified.expiresAt;
    return { ok: true, expiresAt: verified.expiresAt };
  }

  private scheduleExpiry(socket: ChatSocket): void {
    const remaining = socket.data.expiresAt * 1000 - Date.now();
    const timer = setTimeout(
      () => {
        if (socket.data.expiresAt * 1000 <= Date.now()) {
          this.logger.log({
            msg: `Token expired: disconnecting ${socket.data.user.name} (sid: ${socket.id})`,
            ...socketLogFields(socket),
          });
          socket.disconnect(true);
        } else {
          this.scheduleExpiry(socket);
        }
      },
      Math.min(Math.max(remaining, 0), MAX_TIMER_MS),
    );
    timer.unref();
    this.expiryTimers.set(socket.id, timer);
  }
}
