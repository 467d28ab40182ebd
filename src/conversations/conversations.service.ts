import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, In, LessThanOrEqual, MoreThan, QueryFailedError } from 'typeorm';
import type { ConversationView } from '../chat/chat.events.js';
import { runInTransaction } from '../database/transaction.js';
import { Conversation } from './conversation.entity.js';
import { ConversationMember } from './conversation-member.entity.js';
import { Message, type MessageRole, type MessageSource, type MessageStatus } from './message.entity.js';

/** How many messages `conversation:join` returns. */
export const JOIN_HISTORY = 50;

export interface NewMessage {
  conversationId: string;
  authorId: string;
  role: MessageRole;
  content: string;
  status: MessageStatus;
  clientMessageId?: string;
}

/** Conversations, membership and messages, in the database. Every write is committed before it returns. */
@Injectable()
export class ConversationsService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async create(
    creatorId: string,
    title: string | undefined,
    memberIds: string[] = [],
  ): Promise<ConversationView> {
    const id = randomUUID();
    const members = [...new Set([creatorId, ...memberIds])];
    await runInTransaction(this.dataSource, async (manager) => {
      await manager.insert(Conversation, { id, title: title ?? null, createdBy: creatorId });
      await manager.insert(
        ConversationMember,
        members.map((userId) => ({ conversationId: id, userId })),
      );
    });
    return { id, title: title ?? null, memberIds: members };
  }

  async exists(conversationId: string): Promise<boolean> {
    return this.dataSource.getRepository(Conversation).existsBy({ id: conversationId });
  }

  async isMember(conversationId: string, userId: string): Promise<boolean> {
    return this.dataSource.getRepository(ConversationMember).existsBy({ conversationId, userId });
  }

  /** The last `JOIN_HISTORY` messages, oldest first. */
  async recentMessages(conversationId: string): Promise<Message[]> {
    const newestFirst = await this.dataSource
      .getRepository(Message)
      .find({ where: { conversationId }, order: { seq: 'DESC' }, take: JOIN_HISTORY });
    return newestFirst.reverse();
  }

  /** Every message with `seq > afterSeq`, in `seq` order. */
  async messagesAfter(conversationId: string, afterSeq: number): Promise<Message[]> {
    return this.dataSource
      .getRepository(Message)
      .find({ where: { conversationId, seq: MoreThan(afterSeq) }, order: { seq: 'ASC' } });
  }

  /**
   * Stores a message under the conversation's next `seq`. Idempotent on (author, clientMessageId):
   * a repeat returns the stored message with `duplicate: true` instead of adding a second one.
   */
  async append(input: NewMessage): Promise<{ message: Message; duplicate: boolean }> {
    const earlier = await this.findByClientId(input.authorId, input.clientMessageId);
    if (earlier) return { message: earlier, duplicate: true };
    try {
      const message = await runInTransaction(this.dataSource, async (manager) => {
        // The UPDATE comes first: it takes the conversation's write lock (a row lock on PostgreSQL,
        // the database write lock on SQLite) before anything is read, so concurrent senders on any
        // worker queue up here instead of reading the same seq, and SQLite never has to upgrade a
        // read lock (which fails at once with SQLITE_BUSY instead of waiting).
        await manager.increment(Conversation, { id: input.conversationId }, 'lastSeq', 1);
        const { lastSeq } = await manager.findOneByOrFail(Conversation, { id: input.conversationId });
        const entity = manager.create(Message, {
          id: randomUUID(),
          conversationId: input.conversationId,
          seq: lastSeq,
          role: input.role,
          authorId: input.authorId,
          content: input.content,
          status: input.status,
          sources: null,
          clientMessageId: input.clientMessageId ?? null,
        });
        await manager.insert(Message, entity);
        return manager.findOneByOrFail(Message, { id: entity.id });
      });
      return { message, duplicate: false };
    } catch (error) {
      // Two sends with one clientMessageId raced past the lookup: the unique index kept one.
      const winner =
        error instanceof QueryFailedError &&
        (await this.findByClientId(input.authorId, input.clientMessageId));
      if (winner) return { message: winner, duplicate: true };
      throw error;
    }
  }

  /** The completed messages up to `seq` (newest `limit` of them), oldest first: an answer's context. */
  async history(conversationId: string, uptoSeq: number, limit: number): Promise<Message[]> {
    const newestFirst = await this.dataSource.getRepository(Message).find({
      where: { conversationId, seq: LessThanOrEqual(uptoSeq), status: In(['complete']) },
      order: { seq: 'DESC' },
      take: limit,
    });
    return newestFirst.reverse();
  }

  /**
   * Saves a streaming answer's content so far. It doubles as the answer's heartbeat: `updated_at`
   * moves on every call, and an answer whose heartbeat stopped is failed by `failStaleAnswers`.
   */
  async checkpoint(id: string, content: string, streamIndex: number): Promise<void> {
    await this.dataSource
      .getRepository(Message)
      .update({ id, status: 'streaming' }, { content, streamIndex });
  }

  /** Ends a streaming answer as complete or failed; returns it as stored. */
  async finish(
    id: string,
    status: 'complete' | 'failed',
    content: string,
    sources: MessageSource[],
  ): Promise<Message> {
    const repository = this.dataSource.getRepository(Message);
    await repository.update({ id }, { status, content, sources: sources.length ? sources : null });
    return repository.findOneByOrFail({ id });
  }

  /**
   * Fails answers still `streaming` whose heartbeat is older than `staleSeconds` (their worker died).
   * Safe with many workers sweeping at once: each row is claimed by one conditional UPDATE, and only
   * the claims this call won are returned (so only one worker tells the clients).
   */
  async failStaleAnswers(staleSeconds: number): Promise<Message[]> {
    const repository = this.dataSource.getRepository(Message);
    const cutoff =
      this.dataSource.options.type === 'postgres'
        ? `now() - interval '${staleSeconds} seconds'`
        : `datetime('now', '-${staleSeconds} seconds')`;
    const stale = await repository
      .createQueryBuilder('message')
      .where("message.status = 'streaming'")
      .andWhere(`message.updated_at < ${cutoff}`)
      .take(100)
      .getMany();
    const claimed: Message[] = [];
    for (const message of stale) {
      const result = await repository.update({ id: message.id, status: 'streaming' }, { status: 'failed' });
      if (result.affected === 1) claimed.push({ ...message, status: 'failed' });
    }
    return claimed;
  }

  private async findByClientId(
    authorId: string,
    clientMessageId: string | undefined,
  ): Promise<Message | null> {
    if (!clientMessageId) return null;
    return this.dataSource.getRepository(Message).findOneBy({ authorId, clientMessageId });
  }
}
