import { Test, type TestingModule } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../database/data-source-options.js';
import { ENTITIES } from '../entities.js';
import { ConversationsService } from './conversations.service.js';
import { Message } from './message.entity.js';

type NewMessage = Parameters<ConversationsService['append']>[0];
/** The service's SYNC_PAGE_CHARS (not exported): the content characters one sync page carries at most. */
const SYNC_PAGE_CHARS = 256 * 1024;

/**
 * ConversationsService on a real SQLite database in memory, with the service's own entities and
 * migrations (no file, no server): the SQL it runs is the SQL production runs on SQLite.
 */
describe('ConversationsService (SQLite in memory)', () => {
  let moduleRef: TestingModule;
  let dataSource: DataSource;
  let service: ConversationsService;

  beforeEach(async () => {
    moduleRef = await Test.createTestingModule({
      providers: [
        ConversationsService,
        {
          provide: getDataSourceToken(),
          useFactory: async () => {
            const source = await new DataSource(
              dataSourceOptions({ type: 'sqlite', location: ':memory:' }, ENTITIES),
            ).initialize();
            // runMigrationsExclusively would take a lock file beside the database: nothing to race in memory.
            await source.runMigrations({ transaction: 'all' });
            return source;
          },
        },
      ],
    }).compile();
    dataSource = moduleRef.get(getDataSourceToken());
    service = moduleRef.get(ConversationsService);
  });

  afterEach(async () => {
    await moduleRef.close();
    await dataSource.destroy();
  });

  const userMessage = (conversationId: string, content: string, extra: Partial<NewMessage> = {}) =>
    service.append({
      conversationId,
      authorId: 'alice',
      role: 'user',
      content,
      status: 'complete',
      ...extra,
    });

  /** Moves a message's heartbeat `seconds` into the past, as if its worker had stopped beating. */
  const age = (id: string, seconds: number) =>
    dataSource.query(`UPDATE messages SET updated_at = datetime('now', '-${seconds} seconds') WHERE id = ?`, [
      id,
    ]);

  it('runs every migration of the service on the in-memory database', async () => {
    const applied = (await dataSource.query('SELECT name FROM migrations ORDER BY id')) as { name: string }[];

    expect(applied.map((row) => row.name)).toEqual(dataSource.migrations.map((m) => m.name));
    expect(applied.length).toBeGreaterThanOrEqual(4);
  });

  describe('create and membership', () => {
    it('creates a conversation whose members are the creator and the others, each once', async () => {
      const conversation = await service.create('alice', 'Team', ['bob', 'alice', 'carol', 'bob']);

      expect(conversation).toEqual({
        id: expect.any(String),
        title: 'Team',
        memberIds: ['alice', 'bob', 'carol'],
      });
      for (const member of ['alice', 'bob', 'carol'])
        expect(await service.isMember(conversation.id, member)).toBe(true);
    });

    it('gives a conversation without a title a null title and the creator alone as member', async () => {
      const conversation = await service.create('alice', undefined);

      expect(conversation.title).toBeNull();
      expect(conversation.memberIds).toEqual(['alice']);
    });

    it('answers false for a non-member and for a conversation that does not exist', async () => {
      const conversation = await service.create('alice', 'Private', ['bob']);

      expect(await service.isMember(conversation.id, 'mallory')).toBe(false);
      expect(await service.isMember('00000000-0000-7000-8000-000000000000', 'alice')).toBe(false);
    });

    it('keeps the members of one conversation out of another', async () => {
      const first = await service.create('alice', 'One', ['bob']);
      const second = await service.create('carol', 'Two');

      expect(await service.isMember(second.id, 'bob')).toBe(false);
      expect(await service.isMember(first.id, 'carol')).toBe(false);
    });
  });

  describe('append', () => {
    it('numbers the messages of a conversation 1, 2, 3 and stores them as given', async () => {
      const { id } = await service.create('alice', 'Numbers');

      const results = [];
      for (const content of ['one', 'two', 'three']) results.push(await userMessage(id, content));

      expect(results.map((r) => r.message.seq)).toEqual([1, 2, 3]);
      expect(results.map((r) => r.duplicate)).toEqual([false, false, false]);
      const [first] = results;
      expect(first.message).toMatchObject({
        conversationId: id,
        authorId: 'alice',
        role: 'user',
        content: 'one',
        status: 'complete',
        clientMessageId: null,
        sources: null,
        streamIndex: 0,
      });
      expect(first.message.createdAt).toBeInstanceOf(Date);
      expect(Number.isNaN(first.message.createdAt.getTime())).toBe(false);
      const stored = await dataSource.getRepository(Message).findOneByOrFail({ id: first.message.id });
      expect(stored.content).toBe('one');
    });

    it('numbers each conversation on its own', async () => {
      const a = await service.create('alice', 'A');
      const b = await service.create('alice', 'B');

      await userMessage(a.id, 'a1');
      await userMessage(a.id, 'a2');
      const inB = await userMessage(b.id, 'b1');

      expect(inB.message.seq).toBe(1);
    });

    it('gives concurrent appends to one conversation distinct consecutive seqs', async () => {
      const { id } = await service.create('alice', 'Busy');

      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => userMessage(id, `m${i}`)));

      expect(results.map((r) => r.message.seq).sort((x, y) => x - y)).toEqual([
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
      ]);
    });

    it('returns the first message with duplicate: true for a repeated clientMessageId, and leaves no seq gap', async () => {
      const { id } = await service.create('alice', 'Retries');

      const first = await userMessage(id, 'hello', { clientMessageId: 'c-1' });
      const repeat = await userMessage(id, 'hello again', { clientMessageId: 'c-1' });
      const next = await userMessage(id, 'next', { clientMessageId: 'c-2' });

      expect(first.duplicate).toBe(false);
      expect(repeat.duplicate).toBe(true);
      expect(repeat.message.id).toBe(first.message.id);
      expect(repeat.message.seq).toBe(1);
      expect(repeat.message.content).toBe('hello');
      expect(next.message.seq).toBe(2);
      expect(await dataSource.getRepository(Message).countBy({ conversationId: id })).toBe(2);
    });

    it('stores one message when the same clientMessageId is sent twice at once', async () => {
      const { id } = await service.create('alice', 'Race');

      const [a, b] = await Promise.all([
        userMessage(id, 'x', { clientMessageId: 'same' }),
        userMessage(id, 'x', { clientMessageId: 'same' }),
      ]);

      expect(a.message.id).toBe(b.message.id);
      expect([a.duplicate, b.duplicate].sort()).toEqual([false, true]);
      expect(await dataSource.getRepository(Message).countBy({ conversationId: id })).toBe(1);
    });

    it('treats the same clientMessageId in another conversation as a new message', async () => {
      const a = await service.create('alice', 'A');
      const b = await service.create('alice', 'B');

      const inA = await userMessage(a.id, 'in A', { clientMessageId: 'c-1' });
      const inB = await userMessage(b.id, 'in B', { clientMessageId: 'c-1' });

      expect(inB.duplicate).toBe(false);
      expect(inB.message.id).not.toBe(inA.message.id);
      expect(inB.message).toMatchObject({ conversationId: b.id, seq: 1, content: 'in B' });
    });

    it('answers a repeat with the message of its own conversation when the key was used in another', async () => {
      const a = await service.create('alice', 'A');
      const b = await service.create('alice', 'B');
      await userMessage(a.id, 'in A', { clientMessageId: 'c-1' });
      const inB = await userMessage(b.id, 'in B', { clientMessageId: 'c-1' });

      const repeatInB = await userMessage(b.id, 'in B (retried)', { clientMessageId: 'c-1' });

      expect(repeatInB.duplicate).toBe(true);
      expect(repeatInB.message.id).toBe(inB.message.id);
      expect(repeatInB.message.conversationId).toBe(b.id);
    });

    it('treats the same clientMessageId from another author as a new message', async () => {
      const { id } = await service.create('alice', 'Shared', ['bob']);

      const fromAlice = await userMessage(id, 'from alice', { clientMessageId: 'c-1' });
      const fromBob = await userMessage(id, 'from bob', { clientMessageId: 'c-1', authorId: 'bob' });

      expect(fromBob.duplicate).toBe(false);
      expect(fromBob.message.id).not.toBe(fromAlice.message.id);
      expect(fromBob.message.seq).toBe(2);
    });
  });

  describe('messagesAfter', () => {
    it('pages by limit, oldest first, with hasMore until the last page', async () => {
      const { id } = await service.create('alice', 'Paged');
      for (let i = 1; i <= 5; i++) await userMessage(id, `m${i}`);

      const first = await service.messagesAfter(id, 0, 2);
      const second = await service.messagesAfter(id, 2, 2);
      const last = await service.messagesAfter(id, 4, 2);
      const beyond = await service.messagesAfter(id, 5, 2);

      expect(first.messages.map((m) => m.seq)).toEqual([1, 2]);
      expect(first.hasMore).toBe(true);
      expect(second.messages.map((m) => m.content)).toEqual(['m3', 'm4']);
      expect(second.hasMore).toBe(true);
      expect(last.messages.map((m) => m.seq)).toEqual([5]);
      expect(last.hasMore).toBe(false);
      expect(beyond).toEqual({ messages: [], hasMore: false });
    });

    it('says hasMore: false when the page ends exactly at the last message', async () => {
      const { id } = await service.create('alice', 'Exact');
      for (let i = 1; i <= 3; i++) await userMessage(id, `m${i}`);

      const page = await service.messagesAfter(id, 0, 3);

      expect(page.messages).toHaveLength(3);
      expect(page.hasMore).toBe(false);
    });

    it('returns only the messages of the conversation asked for', async () => {
      const a = await service.create('alice', 'A');
      const b = await service.create('alice', 'B');
      await userMessage(a.id, 'a1');
      await userMessage(b.id, 'b1');
      await userMessage(a.id, 'a2');

      const page = await service.messagesAfter(a.id, 0, 10);

      expect(page.messages.map((m) => m.content)).toEqual(['a1', 'a2']);
    });

    it('ends a page before the content passes SYNC_PAGE_CHARS', async () => {
      const { id } = await service.create('alice', 'Long');
      const big = 'x'.repeat(Math.floor(SYNC_PAGE_CHARS * 0.4));
      for (let i = 0; i < 3; i++) await userMessage(id, big);

      const first = await service.messagesAfter(id, 0, 10);
      const second = await service.messagesAfter(id, 2, 10);

      expect(first.messages.map((m) => m.seq)).toEqual([1, 2]);
      expect(first.hasMore).toBe(true);
      expect(second.messages.map((m) => m.seq)).toEqual([3]);
      expect(second.hasMore).toBe(false);
    });

    it('always carries at least one message, even one larger than SYNC_PAGE_CHARS', async () => {
      const { id } = await service.create('alice', 'Huge');
      await userMessage(id, 'y'.repeat(SYNC_PAGE_CHARS + 1));
      await userMessage(id, 'small');

      const page = await service.messagesAfter(id, 0, 10);

      expect(page.messages.map((m) => m.seq)).toEqual([1]);
      expect(page.messages[0].content).toHaveLength(SYNC_PAGE_CHARS + 1);
      expect(page.hasMore).toBe(true);
    });
  });

  describe('streaming answers', () => {
    const draft = async (conversationId: string) =>
      (
        await service.append({
          conversationId,
          authorId: 'assistant',
          role: 'assistant',
          content: '',
          status: 'streaming',
        })
      ).message;

    it('checkpoints the content and stream index of a streaming answer', async () => {
      const { id } = await service.create('alice', 'Checkpoint');
      const answer = await draft(id);

      await service.checkpoint(answer.id, 'Hello', 2);

      const stored = await dataSource.getRepository(Message).findOneByOrFail({ id: answer.id });
      expect(stored).toMatchObject({ content: 'Hello', streamIndex: 2, status: 'streaming' });
    });

    it('finishes an answer as complete with its content and sources, and returns it as stored', async () => {
      const { id } = await service.create('alice', 'Finish');
      const answer = await draft(id);
      const sources = [{ id: 'doc-1', title: 'Doc', snippet: 'a passage', score: 0.5 }];

      const { message: done, won } = await service.finish(answer.id, 'complete', 'The answer', sources);

      expect(won).toBe(true);
      expect(done).toMatchObject({ id: answer.id, status: 'complete', content: 'The answer', sources });
      const stored = await dataSource.getRepository(Message).findOneByOrFail({ id: answer.id });
      expect(stored.sources).toEqual(sources);
    });

    it('stores no sources as null and a failed answer with its content so far', async () => {
      const { id } = await service.create('alice', 'Failed');
      const answer = await draft(id);

      const { message: failed } = await service.finish(answer.id, 'failed', 'half an ans', []);

      expect(failed).toMatchObject({ status: 'failed', content: 'half an ans', sources: null });
    });

    it('gives an answer one final state: a second finish (a cancel racing the end) changes nothing', async () => {
      const { id } = await service.create('alice', 'Race');
      const answer = await draft(id);
      expect((await service.finish(answer.id, 'complete', 'whole', [])).won).toBe(true);
      const late = await service.finish(answer.id, 'cancelled', 'wh', []);
      expect(late.won).toBe(false);
      expect(late.message).toMatchObject({ status: 'complete', content: 'whole' });
    });

    it('does not let a late checkpoint overwrite a finished answer', async () => {
      const { id } = await service.create('alice', 'Late');
      const answer = await draft(id);
      await service.finish(answer.id, 'complete', 'final text', []);

      await service.checkpoint(answer.id, 'stale text', 1);

      const stored = await dataSource.getRepository(Message).findOneByOrFail({ id: answer.id });
      expect(stored).toMatchObject({ status: 'complete', content: 'final text' });
    });

    it('gives an answer its history: completed messages up to the question, newest `limit`, oldest first', async () => {
      const { id } = await service.create('alice', 'History');
      await userMessage(id, 'q1');
      const failed = await draft(id);
      await service.finish(failed.id, 'failed', 'broken', []);
      await userMessage(id, 'q2');
      const question = (await userMessage(id, 'q3')).message;
      await draft(id); // the answer being written: streaming, after the question
      await userMessage(id, 'q4 (later)');

      const all = await service.history(id, question.seq, 10);
      const lastTwo = await service.history(id, question.seq, 2);

      expect(all.map((m) => m.content)).toEqual(['q1', 'q2', 'q3']);
      expect(lastTwo.map((m) => m.content)).toEqual(['q2', 'q3']);
    });

    it('fails an answer whose heartbeat is older than staleSeconds, once', async () => {
      const { id } = await service.create('alice', 'Stale');
      const stale = await draft(id);
      const alive = await draft(id);
      const oldButComplete = (await userMessage(id, 'old')).message;
      await age(stale.id, 120);
      await age(oldButComplete.id, 120);

      const claimed = await service.failStaleAnswers(60);
      const again = await service.failStaleAnswers(60);

      expect(claimed.map((m) => m.id)).toEqual([stale.id]);
      expect(claimed[0].status).toBe('failed');
      expect(again).toEqual([]);
      const repository = dataSource.getRepository(Message);
      expect((await repository.findOneByOrFail({ id: stale.id })).status).toBe('failed');
      expect((await repository.findOneByOrFail({ id: alive.id })).status).toBe('streaming');
      expect((await repository.findOneByOrFail({ id: oldButComplete.id })).status).toBe('complete');
    });

    it('lets only one of two concurrent sweeps claim a stale answer', async () => {
      const { id } = await service.create('alice', 'Two sweepers');
      const stale = await draft(id);
      await age(stale.id, 120);
      // A second service on the same database stands for another worker.
      const otherWorker = new ConversationsService(dataSource);

      const [mine, theirs] = await Promise.all([
        service.failStaleAnswers(60),
        otherWorker.failStaleAnswers(60),
      ]);

      expect([...mine, ...theirs].map((m) => m.id)).toEqual([stale.id]);
    });

    it('keeps an answer whose checkpoint beat recently', async () => {
      const { id } = await service.create('alice', 'Heartbeat');
      const answer = await draft(id);
      await age(answer.id, 120);

      await service.checkpoint(answer.id, 'still going', 3);
      const claimed = await service.failStaleAnswers(60);

      expect(claimed).toEqual([]);
    });
  });
});
