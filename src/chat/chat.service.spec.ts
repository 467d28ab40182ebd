import { jest } from '@jest/globals';
import { Test, type TestingModule } from '@nestjs/testing';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { AuthUser } from '../auth/auth-user.js';
import { ConversationsService } from '../conversations/conversations.service.js';
import { Message, type MessageStatus } from '../conversations/message.entity.js';
import { AnswerProgressStore, MemoryAnswerProgressStore } from './answer-progress.store.js';
import { ChatError } from './chat.error.js';
import { ChatRateLimiter, EVENT_LIMITER } from './chat-rate-limiter.js';
import { ChatService } from './chat.service.js';
import { ChatEmitter } from './chat-emitter.js';

const alice: AuthUser = { id: 'alice', name: 'Alice' };
const mallory: AuthUser = { id: 'mallory', name: 'Mallory' };
const CONVERSATION = 'conv-1';
/** Events each user may send in these tests (production allows far more per window). */
const POINTS = 5;

function message(fields: Partial<Message> & Pick<Message, 'id' | 'seq'>): Message {
  return Object.assign(new Message(), {
    conversationId: CONVERSATION,
    role: 'user',
    authorId: 'alice',
    content: '',
    status: 'complete' as MessageStatus,
    sources: null,
    clientMessageId: null,
    streamIndex: 0,
    createdAt: new Date('2025-01-01T00:00:00.000Z'),
    updatedAt: new Date('2025-01-01T00:00:00.000Z'),
    ...fields,
  });
}

/** The part of ConversationsService ChatService uses: members of CONVERSATION and its messages, in memory. */
class FakeConversations {
  readonly members = new Map<string, Set<string>>([[CONVERSATION, new Set(['alice', 'bob'])]]);
  readonly messages: Message[] = [];
  page: { messages: Message[]; hasMore: boolean } = { messages: [], hasMore: false };

  isMember = jest.fn(async (conversationId: string, userId: string) =>
    Boolean(this.members.get(conversationId)?.has(userId)),
  );

  create = jest.fn(async (creatorId: string, title: string | undefined, memberIds: string[] = []) => ({
    id: 'conv-new',
    title: title ?? null,
    memberIds: [creatorId, ...memberIds],
  }));

  recentMessages = jest.fn(async () => this.messages);

  messagesAfter = jest.fn(async (_conversationId: string, _afterSeq: number, _limit: number) => this.page);

  append = jest.fn(
    async (
      input: Parameters<ConversationsService['append']>[0],
    ): Promise<{ message: Message; duplicate: boolean }> => {
      const earlier = this.messages.find(
        (m) =>
          input.clientMessageId !== undefined &&
          m.conversationId === input.conversationId &&
          m.authorId === input.authorId &&
          m.clientMessageId === input.clientMessageId,
      );
      if (earlier) return { message: earlier, duplicate: true };
      const stored = message({
        ...input,
        id: `m${this.messages.length + 1}`,
        seq: this.messages.length + 1,
        clientMessageId: input.clientMessageId ?? null,
      });
      this.messages.push(stored);
      return { message: stored, duplicate: false };
    },
  );
}

describe('ChatService', () => {
  let moduleRef: TestingModule;
  let service: ChatService;
  let conversations: FakeConversations;
  let progress: MemoryAnswerProgressStore;

  beforeEach(async () => {
    conversations = new FakeConversations();
    moduleRef = await Test.createTestingModule({
      providers: [
        ChatService,
        ChatRateLimiter,
        { provide: EVENT_LIMITER, useValue: new RateLimiterMemory({ points: POINTS, duration: 30 }) },
        { provide: ConversationsService, useValue: conversations },
        { provide: AnswerProgressStore, useClass: MemoryAnswerProgressStore },
        // Not attached to a namespace: these tests look at what is stored and refused, not broadcast.
        ChatEmitter,
      ],
    }).compile();
    service = moduleRef.get(ChatService);
    progress = moduleRef.get(AnswerProgressStore);
  });

  afterEach(() => moduleRef.close());

  /** The ChatError a call fails with (fails the test when it resolves). */
  const failure = async (call: Promise<unknown>): Promise<ChatError> => {
    const error = await call.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ChatError);
    return error as ChatError;
  };

  describe('membership', () => {
    it('lets a member join and returns the recent history as views', async () => {
      conversations.messages.push(message({ id: 'm1', seq: 1, content: 'hi' }));

      const history = await service.join(alice, CONVERSATION);

      expect(history).toEqual([
        {
          id: 'm1',
          conversationId: CONVERSATION,
          seq: 1,
          role: 'user',
          authorId: 'alice',
          content: 'hi',
          status: 'complete',
          createdAt: '2025-01-01T00:00:00.000Z',
        },
      ]);
    });

    it('refuses a non-member with FORBIDDEN', async () => {
      const error = await failure(service.join(mallory, CONVERSATION));

      expect(error.code).toBe('FORBIDDEN');
      expect(conversations.recentMessages).not.toHaveBeenCalled();
    });

    it('answers an unknown conversation exactly like one the user is not a member of', async () => {
      const notMember = await failure(service.join(mallory, CONVERSATION));
      const unknown = await failure(service.join(mallory, 'no-such-conversation'));

      expect(unknown.code).toBe('FORBIDDEN');
      expect(unknown.message).toBe(notMember.message);
    });

    it('refuses a non-member on send and sync too, storing nothing', async () => {
      const send = await failure(
        service.send(mallory, { conversationId: CONVERSATION, content: 'let me in', clientMessageId: 'x' }),
      );
      const sync = await failure(service.sync(mallory, CONVERSATION, 0, 50));

      expect([send.code, sync.code]).toEqual(['FORBIDDEN', 'FORBIDDEN']);
      expect(conversations.append).not.toHaveBeenCalled();
      expect(conversations.messagesAfter).not.toHaveBeenCalled();
    });

    it('asks the database once per member and conversation, then answers from its cache', async () => {
      await service.join(alice, CONVERSATION);
      await service.send(alice, { conversationId: CONVERSATION, content: 'a', clientMessageId: 'c1' });
      await service.sync(alice, CONVERSATION, 0, 10);

      expect(conversations.isMember).toHaveBeenCalledTimes(1);
      expect(conversations.isMember).toHaveBeenCalledWith(CONVERSATION, 'alice');
    });

    it('caches per user and per conversation', async () => {
      conversations.members.set('conv-2', new Set(['alice']));

      await service.assertMember(alice, CONVERSATION);
      await service.assertMember(alice, 'conv-2');
      await service.assertMember({ id: 'bob', name: 'Bob' }, CONVERSATION);

      expect(conversations.isMember.mock.calls).toEqual([
        [CONVERSATION, 'alice'],
        ['conv-2', 'alice'],
        [CONVERSATION, 'bob'],
      ]);
    });

    it('does not cache a refusal: a user added later gets in', async () => {
      await failure(service.assertMember(mallory, CONVERSATION));
      conversations.members.get(CONVERSATION)!.add('mallory');

      await expect(service.assertMember(mallory, CONVERSATION)).resolves.toBeUndefined();
      expect(conversations.isMember).toHaveBeenCalledTimes(2);
    });
  });

  describe('rate limit', () => {
    it('fails with RATE_LIMITED once the user has spent the points of the window', async () => {
      for (let i = 0; i < POINTS; i++) await service.join(alice, CONVERSATION);

      const error = await failure(service.join(alice, CONVERSATION));

      expect(error.code).toBe('RATE_LIMITED');
      expect(error.message).toMatch(/retry in \d+ s/);
      expect(conversations.recentMessages).toHaveBeenCalledTimes(POINTS);
    });

    it('counts every kind of event against the same budget, before anything else runs', async () => {
      await service.createConversation(alice, { title: 'x', memberIds: [] });
      await service.join(alice, CONVERSATION);
      await service.sync(alice, CONVERSATION, 0, 10);
      await service.send(alice, { conversationId: CONVERSATION, content: 'a', clientMessageId: 'c1' });
      await service.send(alice, { conversationId: CONVERSATION, content: 'b', clientMessageId: 'c2' });

      const error = await failure(
        service.send(alice, { conversationId: CONVERSATION, content: 'c', clientMessageId: 'c3' }),
      );

      expect(error.code).toBe('RATE_LIMITED');
      expect(conversations.append).toHaveBeenCalledTimes(2);
    });

    it('limits each user on their own', async () => {
      for (let i = 0; i < POINTS; i++) await service.join(alice, CONVERSATION);
      await failure(service.join(alice, CONVERSATION));

      await expect(service.join({ id: 'bob', name: 'Bob' }, CONVERSATION)).resolves.toEqual([]);
    });
  });

  describe('send', () => {
    it('stores the user message as complete, authored by the sender, and returns its view', async () => {
      const result = await service.send(alice, {
        conversationId: CONVERSATION,
        content: 'hello',
        clientMessageId: 'c-1',
      });

      expect(conversations.append).toHaveBeenCalledWith({
        conversationId: CONVERSATION,
        authorId: 'alice',
        role: 'user',
        content: 'hello',
        status: 'complete',
        clientMessageId: 'c-1',
      });
      expect(result.duplicate).toBe(false);
      expect(result.message).toMatchObject({ id: 'm1', seq: 1, content: 'hello', status: 'complete' });
      expect(result.message).not.toHaveProperty('sources');
      expect(typeof result.message.createdAt).toBe('string');
    });

    it('returns duplicate: true and the first message for a repeated clientMessageId', async () => {
      const first = await service.send(alice, {
        conversationId: CONVERSATION,
        content: 'hello',
        clientMessageId: 'c-1',
      });

      const repeat = await service.send(alice, {
        conversationId: CONVERSATION,
        content: 'hello (retried)',
        clientMessageId: 'c-1',
      });

      expect(repeat.duplicate).toBe(true);
      expect(repeat.message).toEqual(first.message);
      expect(conversations.messages).toHaveLength(1);
    });
  });

  describe('sync', () => {
    it('returns the page of messages after afterSeq, as views, with hasMore', async () => {
      conversations.page = {
        messages: [
          message({ id: 'm3', seq: 3, content: 'three' }),
          message({ id: 'm4', seq: 4, content: 'four' }),
        ],
        hasMore: true,
      };

      const result = await service.sync(alice, CONVERSATION, 2, 2);

      expect(conversations.messagesAfter).toHaveBeenCalledWith(CONVERSATION, 2, 2);
      expect(result.hasMore).toBe(true);
      expect(result.messages.map((m) => [m.seq, m.content])).toEqual([
        [3, 'three'],
        [4, 'four'],
      ]);
      expect(result.messages[0].createdAt).toBe('2025-01-01T00:00:00.000Z');
    });

    it('stitches a streaming answer with its exact progress from the store', async () => {
      const answer = message({
        id: 'a1',
        seq: 2,
        role: 'assistant',
        authorId: 'assistant',
        status: 'streaming',
        content: 'Hel', // the last checkpoint: deltas 0..0
        streamIndex: 1,
      });
      conversations.page = { messages: [message({ id: 'm1', seq: 1 }), answer], hasMore: false };
      for (const delta of ['Hel', 'lo', ' wor']) await progress.append('a1', delta);

      const { messages } = await service.sync(alice, CONVERSATION, 0, 50);

      expect(messages[1]).toMatchObject({
        id: 'a1',
        status: 'streaming',
        content: 'Hello wor',
        nextIndex: 3,
        sources: [],
      });
    });

    it('keeps the checkpoint when the store has nothing, is behind it, or fails', async () => {
      const streaming = (id: string, seq: number) =>
        message({ id, seq, role: 'assistant', status: 'streaming', content: 'Hello', streamIndex: 2 });
      conversations.page = {
        messages: [streaming('none', 1), streaming('behind', 2), streaming('broken', 3)],
        hasMore: false,
      };
      await progress.append('behind', 'He');
      const read = progress.read.bind(progress);
      jest
        .spyOn(progress, 'read')
        .mockImplementation((id) => (id === 'broken' ? Promise.reject(new Error('store down')) : read(id)));

      const { messages } = await service.sync(alice, CONVERSATION, 0, 50);

      for (const view of messages) expect(view).toMatchObject({ content: 'Hello', nextIndex: 2 });
    });

    it('leaves finished messages as stored, whatever the store holds', async () => {
      conversations.page = {
        messages: [message({ id: 'done', seq: 1, role: 'assistant', status: 'complete', content: 'Final' })],
        hasMore: false,
      };
      await progress.append('done', 'Stale progress');

      const { messages } = await service.sync(alice, CONVERSATION, 0, 50);

      expect(messages[0].content).toBe('Final');
      expect(messages[0]).not.toHaveProperty('nextIndex');
    });
  });

  it('creates a conversation for the user, with the members asked for', async () => {
    const conversation = await service.createConversation(alice, { title: 'Plans', memberIds: ['bob'] });

    expect(conversations.create).toHaveBeenCalledWith('alice', 'Plans', ['bob']);
    expect(conversation).toEqual({ id: 'conv-new', title: 'Plans', memberIds: ['alice', 'bob'] });
  });
});
