import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Between, DataSource, In, LessThanOrEqual } from 'typeorm';
import { databaseErrorCode } from '../database/database-error.js';
import { exclusively, runInTransaction } from '../database/transaction.js';
import { Conversation } from './conversation.entity.js';
import { ConversationMember } from './conversation-member.entity.js';
import type { GroupCommitInserter } from './group-commit.js';
import { PostgresMessageInserter } from './postgres-message-inserter.js';
import { SqliteMessageInserter } from './sqlite-message-inserter.js';
import { timeOrderedId } from './time-ordered-id.js';
import type { ConversationView } from './message.view.js';
import { Message, type MessageRole, type MessageSource, type MessageStatus } from './message.entity.js';

/** A unique index refused the row: SQLite `SQLITE_CONSTRAINT_UNIQUE`, PostgreSQL `23505`. */
function isUniqueViolation(error: unknown): boolean {
  const code = databaseErrorCode(error);
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505';
}

const JOIN_HISTORY = 50;
/** Content characters one `conversation:sync` page carries at most (about 0.25-1 MB on the wire). */
const SYNC_PAGE_CHARS = 256 * 1024;

export interface NewMessage {
  conversationId: string;
  authorId: string;
  role: MessageRole;
  content: string;
  status: MessageStatus;
  clientMessageId?: string;
}

/** Conversations, membership and messages. Every write is committed before it returns. */
@Injectable()
export class ConversationsService implements OnModuleDestroy {
  private inserter?: GroupCommitInserter;

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  onModuleDestroy(): void {
    this.inserter?.close();
  }

  async create(
    creatorId: string,
    title: string | undefined,
    memberIds: string[] = [],
  ): Promise<ConversationView> {
    const id = timeOrderedId();
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

  async recentMessages(conversationId: string): Promise<Message[]> {
    const newestFirst = await this.dataSource
      .getRepository(Message)
      .find({ where: { conversationId }, order: { seq: 'DESC' }, take: JOIN_HISTORY });
    return newestFirst.reverse();
  }

  /**
   * Messages with `seq > afterSeq`, oldest first: at most `limit` and SYNC_PAGE_CHARS of content (at
   * least one message). Sizes are read first, so contents beyond the page are never loaded.
   */
  async messagesAfter(
    conversationId: string,
    afterSeq: number,
    limit: number,
  ): Promise<{ messages: Message[]; hasMore: boolean }> {
    const sizes = await this.dataSource
      .getRepository(Message)
      .createQueryBuilder('message')
      .select('message.seq', 'seq')
      .addSelect('LENGTH(message.content)', 'size')
      .where('message.conversation_id = :conversationId', { conversationId })
      .andWhere('message.seq > :afterSeq', { afterSeq })
      .orderBy('message.seq', 'ASC')
      .limit(limit + 1)
      .getRawMany<{ seq: number | string; size: number | string }>();
    let count = 0;
    let chars = 0;
    while (count < Math.min(limit, sizes.length)) {
      chars += Number(sizes[count].size);
      if (count > 0 && chars > SYNC_PAGE_CHARS) break;
      count++;
    }
    if (count === 0) return { messages: [], hasMore: false };
    const messages = await this.dataSource.getRepository(Message).find({
      where: { conversationId, seq: Between(afterSeq + 1, Number(sizes[count - 1].seq)) },
      order: { seq: 'ASC' },
    });
    return { messages, hasMore: sizes.length > count };
  }

  /** Stores a message under the next `seq`; a repeated clientMessageId returns the first as `duplicate`. */
  async append(input: NewMessage): Promise<{ message: Message; duplicate: boolean }> {
    try {
      return { message: await this.insertWithNextSeq(timeOrderedId(), input), duplicate: false };
    } catch (error) {
      const earlier = isUniqueViolation(error) && (await this.findByClientId(input));
      if (earlier) return { message: earlier, duplicate: true };
      throw error;
    }
  }

  /** ONE statement takes the next seq and returns the row: no lock across round trips, no gap (0002). */
  private async insertWithNextSeq(id: string, input: NewMessage): Promise<Message> {
    const { conversationId, role, authorId, content, status, clientMessageId } = input;
    const row = await this.messageInserter().insert([
      id,
      conversationId,
      role,
      authorId,
      content,
      status,
      clientMessageId ?? null,
    ]);
    return this.hydrate(row);
  }

  private messageInserter(): GroupCommitInserter {
    this.inserter ??=
      this.dataSource.options.type === 'postgres'
        ? new PostgresMessageInserter(this.dataSource)
        : new SqliteMessageInserter(this.dataSource);
    return this.inserter;
  }

  /** A raw `messages` row as TypeORM would load it (dates, JSON, numbers per driver). */
  private hydrate(row: Record<string, unknown>): Message {
    const metadata = this.dataSource.getMetadata(Message);
    const message = new Message();
    for (const column of metadata.columns) {
      column.setEntityValue(
        message,
        this.dataSource.driver.prepareHydratedValue(row[column.databaseName], column),
      );
    }
    return message;
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

  /** Saves a streaming answer's content so far; `updated_at` is its heartbeat for `failStaleAnswers`. */
  async checkpoint(id: string, content: string, streamIndex: number): Promise<void> {
    const repository = this.dataSource.getRepository(Message);
    await exclusively(this.dataSource, () =>
      repository.update({ id, status: 'streaming' }, { content, streamIndex }),
    );
  }

  /**
   * Gives a streaming answer its final state, only if it is still streaming: of a natural end, a cancel
   * and the sweeper, exactly one wins. Returns the message, and whether this call was the one.
   */
  async finish(
    id: string,
    status: 'complete' | 'failed' | 'cancelled',
    content: string,
    sources: MessageSource[],
  ): Promise<{ message: Message; won: boolean }> {
    const repository = this.dataSource.getRepository(Message);
    const result = await exclusively(this.dataSource, () =>
      repository.update(
        { id, status: 'streaming' },
        { status, content, sources: sources.length ? sources : null },
      ),
    );
    return { message: await repository.findOneByOrFail({ id }), won: result.affected === 1 };
  }

  /** An assistant message of this conversation, or undefined. */
  async findAnswer(conversationId: string, id: string): Promise<Message | undefined> {
    const message = await this.dataSource
      .getRepository(Message)
      .findOneBy({ id, conversationId, role: 'assistant' });
    return message ?? undefined;
  }

  /**
   * Fails answers still `streaming` whose heartbeat is older than `staleSeconds`. Each row is claimed by
   * a conditional UPDATE, and only the claims this call won are returned, so one worker tells the clients.
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
      const result = await exclusively(this.dataSource, () =>
        repository.update({ id: message.id, status: 'streaming' }, { status: 'failed' }),
      );
      if (result.affected === 1) claimed.push({ ...message, status: 'failed' });
    }
    return claimed;
  }

  private async findByClientId({
    conversationId,
    authorId,
    clientMessageId,
  }: NewMessage): Promise<Message | null> {
    if (!clientMessageId) return null;
    return this.dataSource.getRepository(Message).findOneBy({ conversationId, authorId, clientMessageId });
  }
}
