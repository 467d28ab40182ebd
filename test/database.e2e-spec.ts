import { randomUUID } from 'node:crypto';
import { jest } from '@jest/globals';
import BetterSqlite3 from 'better-sqlite3';
import type { Pool, QueryConfig, QueryResult } from 'pg';
import { DataSource, type DataSourceOptions, QueryFailedError } from 'typeorm';
import { Conversation } from '../src/conversations/conversation.entity.js';
import { ConversationMember } from '../src/conversations/conversation-member.entity.js';
import { Message } from '../src/conversations/message.entity.js';
import { ConversationsService, type NewMessage } from '../src/conversations/conversations.service.js';
import { dataSourceOptions } from '../src/database/data-source-options.js';
import { ENTITIES } from '../src/entities.js';
import { runInTransaction } from '../src/database/transaction.js';
import { runMigrationsExclusively, withMigrationLock } from '../src/database/migration-runner.js';
import { sleep } from './support/ports.js';
import { DATABASE_KINDS, databaseConfigFor, freshDatabase } from './support/postgres.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

afterAll(() => stopAllServices());

describe.each(DATABASE_KINDS)('database on %s', (kind) => {
  let database: { url: string; drop(): Promise<void> };
  beforeEach(async () => {
    database = await freshDatabase(kind);
  });
  afterEach(() => database.drop());

  it('runs migrations exactly once when 4 processes boot together on it', async () => {
    // Hold the migration lock so all four reach it and wait; releasing it sets them racing at once.
    const holder = await new DataSource(
      dataSourceOptions(databaseConfigFor(database.url), ENTITIES),
    ).initialize();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const lockTaken = new Promise<void>((taken) => {
      void withMigrationLock(holder, async () => {
        taken();
        await held;
      }).finally(() => holder.destroy());
    });
    await lockTaken;

    const services = await Promise.all(
      Array.from({ length: 4 }, () => ServiceProcess.launch({ DATABASE_URL: database.url })),
    );
    await Promise.all(
      services.map((service) => service.waitForOutput(/Checking database migrations/, 20_000)),
    );
    await sleep(1000);
    for (const service of services) {
      expect(service.alive).toBe(true);
      expect(service.output).not.toMatch(
        /Database migrations applied|Database schema is up to date|Listening on/,
      );
    }
    release();
    await Promise.all(services.map((service) => service.waitForHealth(30_000)));
    const outputs = services.map((service) => service.output).join('\n');
    expect(outputs.match(/Database migrations applied: InitialSchema1764270000000, /g)).toHaveLength(1);
    expect(outputs.match(/Database schema is up to date/g)).toHaveLength(3);
    for (const service of services) expect((await service.get('/api/ready')).status).toBe(200);
    await Promise.all(services.map((service) => service.stop()));

    const dataSource = await new DataSource(
      dataSourceOptions(databaseConfigFor(database.url), ENTITIES),
    ).initialize();
    try {
      // Every migration recorded exactly once.
      const rows = (await dataSource.query('SELECT name FROM migrations ORDER BY name')) as {
        name: string;
      }[];
      const names = dataSource.migrations.map((migration) => migration.name).sort();
      expect(rows.map((row) => row.name)).toEqual(names);
    } finally {
      await dataSource.destroy();
    }
  });

  describe('the chat schema', () => {
    let dataSource: DataSource;
    beforeEach(async () => {
      dataSource = await new DataSource(
        dataSourceOptions(databaseConfigFor(database.url), ENTITIES),
      ).initialize();
      await runMigrationsExclusively(dataSource, { log: () => undefined });
    });
    afterEach(() => dataSource.destroy());

    const message = (
      conversationId: string,
      seq: number,
      extra: Partial<Message> = {},
    ): Partial<Message> => ({
      id: randomUUID(),
      conversationId,
      seq,
      role: 'user',
      authorId: 'alice',
      content: `message ${seq}`,
      status: 'complete',
      sources: null,
      clientMessageId: null,
      ...extra,
    });

    async function conversation(): Promise<string> {
      const id = randomUUID();
      await dataSource.getRepository(Conversation).insert({ id, title: 'Support', createdBy: 'alice' });
      await dataSource.getRepository(ConversationMember).insert({ conversationId: id, userId: 'alice' });
      return id;
    }

    /** A user message, from alice unless `extra` says otherwise. */
    const say = (
      service: ConversationsService,
      conversationId: string,
      content: string,
      extra: Partial<NewMessage> = {},
    ) =>
      service.append({
        conversationId,
        authorId: 'alice',
        role: 'user',
        content,
        status: 'complete',
        ...extra,
      });

    /** Another DataSource on this test's database, as another worker would have (`poolSize` for PostgreSQL). */
    const openAnother = (extra: { poolSize?: number } = {}) =>
      new DataSource({
        ...dataSourceOptions(databaseConfigFor(database.url), ENTITIES),
        ...extra,
      } as DataSourceOptions).initialize();

    /**
     * The statements the message inserter sends: on PostgreSQL it runs named statements on TypeORM's
     * pool itself (their text is `spy.mock.calls[i][0].text`); on SQLite nothing goes through here.
     */
    const spyOnStatements = (source: DataSource): { mock: { calls: unknown[][] }; mockRestore(): void } =>
      kind === 'postgres'
        ? jest.spyOn((source.driver as unknown as { master: Pool }).master, 'query')
        : jest.spyOn(source, 'query');
    const textOf = (call: unknown[]) => (call[0] as { text: string }).text;

    it('indexes messages by status only while they stream (a partial index)', async () => {
      const definitions =
        kind === 'postgres'
          ? ((await dataSource.query(
              "SELECT indexname AS name, indexdef AS sql FROM pg_indexes WHERE tablename = 'messages'",
            )) as { name: string; sql: string }[])
          : ((await dataSource.query(
              "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages'",
            )) as { name: string; sql: string | null }[]);
      const byName = new Map(definitions.map((index) => [index.name, index.sql ?? '']));
      expect(byName.has('idx_messages_status')).toBe(false);
      expect(byName.get('idx_messages_streaming')).toMatch(
        /WHERE \(?\(?"?status"?\)?(::text)? = 'streaming'/,
      );
    });

    it('stores messages with their sources as JSON and reads them back', async () => {
      const id = await conversation();
      const sources = [{ id: 'doc-1', title: 'Redis guide', snippet: 'sticky sessions…', score: 0.87 }];
      await dataSource
        .getRepository(Message)
        .insert(message(id, 1, { role: 'assistant', sources, status: 'streaming' }));
      const [stored] = await dataSource.getRepository(Message).findBy({ conversationId: id });
      expect(stored).toMatchObject({ seq: 1, role: 'assistant', status: 'streaming', sources });
      expect(stored.createdAt).toBeInstanceOf(Date);
      expect(Math.abs(stored.createdAt.getTime() - Date.now())).toBeLessThan(60_000);
    });

    it('refuses a second message with the same seq in one conversation, allows it in another', async () => {
      const [first, second] = [await conversation(), await conversation()];
      const repository = dataSource.getRepository(Message);
      await repository.insert(message(first, 1));
      await expect(repository.insert(message(first, 1))).rejects.toBeInstanceOf(QueryFailedError);
      await expect(repository.insert(message(second, 1))).resolves.toBeDefined();
    });

    it('refuses a repeated clientMessageId from one author, not from another', async () => {
      const id = await conversation();
      const repository = dataSource.getRepository(Message);
      await repository.insert(message(id, 1, { clientMessageId: 'c-1' }));
      await expect(repository.insert(message(id, 2, { clientMessageId: 'c-1' }))).rejects.toBeInstanceOf(
        QueryFailedError,
      );
      await expect(
        repository.insert(message(id, 2, { clientMessageId: 'c-1', authorId: 'bob' })),
      ).resolves.toBeDefined();
      // Messages without a key never collide.
      await expect(repository.insert(message(id, 3))).resolves.toBeDefined();
      await expect(repository.insert(message(id, 4))).resolves.toBeDefined();
    });

    it('hands out gapless, unique seqs to concurrent senders', async () => {
      // Two connections, as two workers would have. PostgreSQL: their batches race for the row lock.
      // SQLite in one thread: each batch runs BEGIN…COMMIT without yielding, so they take turns (the
      // 4-worker chat test races real processes).
      const second = await openAnother();
      try {
        const [one, two] = [new ConversationsService(dataSource), new ConversationsService(second)];
        const { id } = await one.create('alice', 'race', ['bob']);
        const send = (service: ConversationsService, author: string, i: number) =>
          say(service, id, `${author} ${i}`, { authorId: author });
        await Promise.all(
          Array.from({ length: 40 }, (_, i) => [send(one, 'alice', i), send(two, 'bob', i)]).flat(),
        );
        const seqs = (await one.messagesAfter(id, 0, 200)).messages.map((m) => m.seq);
        expect(seqs).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
      } finally {
        await second.destroy();
      }
    });

    it('answers a repeated clientMessageId sent in the same instant as others with the first message, costing the others nothing', async () => {
      // On SQLite these four land in one group commit: the refused duplicate must fail alone.
      const service = new ConversationsService(dataSource);
      const { id } = await service.create('alice', 'retries', []);
      const send = (content: string, clientMessageId?: string) =>
        say(service, id, content, { clientMessageId });
      const [first, retry, plain, other] = await Promise.all([
        send('hello', 'c-1'),
        send('hello', 'c-1'),
        send('no key'),
        send('other', 'c-2'),
      ]);
      expect([first.duplicate, retry.duplicate].sort()).toEqual([false, true]);
      expect(retry.message.id).toBe(first.message.id);
      expect([plain.duplicate, other.duplicate]).toEqual([false, false]);
      const stored = (await service.messagesAfter(id, 0, 200)).messages;
      expect(stored.map((m) => m.seq)).toEqual([1, 2, 3]);
      // What append returned is what a later read returns (hydrated like TypeORM: dates, nulls).
      const byId = new Map(stored.map((m) => [m.id, m]));
      for (const { message } of [first, plain, other]) {
        expect(message).toEqual(byId.get(message.id));
        expect(message.createdAt).toBeInstanceOf(Date);
      }
    });

    it('stores the messages of many conversations sent in one instant with one statement, each in its own seq order', async () => {
      const service = new ConversationsService(dataSource);
      const [a, b] = [
        (await service.create('alice', 'a', [])).id,
        (await service.create('alice', 'b', [])).id,
      ];
      const queries = spyOnStatements(dataSource);
      const order = [a, b, a, b, a, a];
      let sent: Awaited<ReturnType<ConversationsService['append']>>[];
      try {
        sent = await Promise.all(order.map((conversationId, i) => say(service, conversationId, `m${i}`)));
        // PostgreSQL: one batch statement (SQLite's batch runs on better-sqlite3 itself: its single
        // transaction is what the seqs below show).
        if (kind === 'postgres') expect(queries).toHaveBeenCalledTimes(1);
      } finally {
        queries.mockRestore();
      }
      expect(sent.map(({ message }) => [message.conversationId, message.seq])).toEqual([
        [a, 1],
        [b, 1],
        [a, 2],
        [b, 2],
        [a, 3],
        [a, 4],
      ]);
      expect((await service.messagesAfter(a, 0, 200)).messages.map((m) => m.content)).toEqual([
        'm0',
        'm2',
        'm4',
        'm5',
      ]);
    });

    if (kind === 'postgres') {
      it('gathers the messages sent while a batch is being written into the next batch', async () => {
        const service = new ConversationsService(dataSource);
        const { id } = await service.create('alice', 'busy', []);
        const send = (content: string) => say(service, id, content);
        const pool = (dataSource.driver as unknown as { master: Pool }).master;
        const query = pool.query.bind(pool) as (config: QueryConfig) => Promise<QueryResult>;
        const late: Promise<unknown>[] = [];
        let inFlight = 0;
        let mostInFlight = 0;
        const queries = jest.spyOn(pool, 'query').mockImplementation((async (config: QueryConfig) => {
          // Five more arrive while the first batch is on its way to the database.
          if (late.length === 0) for (let i = 0; i < 5; i++) late.push(send(`late ${i}`));
          mostInFlight = Math.max(mostInFlight, ++inFlight);
          try {
            return await query(config);
          } finally {
            inFlight--;
          }
        }) as never);
        try {
          await Promise.all([send('first'), send('second')]);
          await Promise.all(late);
          expect(queries).toHaveBeenCalledTimes(2);
          expect(mostInFlight).toBe(1);
        } finally {
          queries.mockRestore();
        }
        expect((await service.messagesAfter(id, 0, 200)).messages.map((m) => [m.seq, m.content])).toEqual([
          [1, 'first'],
          [2, 'second'],
          ...Array.from({ length: 5 }, (_, i) => [i + 3, `late ${i}`]),
        ]);
      });
    }

    if (kind === 'postgres') {
      it('fails only the message PostgreSQL cannot store, not the others of its batch', async () => {
        const service = new ConversationsService(dataSource);
        const { id } = await service.create('alice', 'nul', []);
        const [before, bad, after] = await Promise.allSettled([
          say(service, id, 'before'),
          say(service, id, 'nul \u0000 inside'),
          say(service, id, 'after'),
        ]);
        expect([before.status, bad.status, after.status]).toEqual(['fulfilled', 'rejected', 'fulfilled']);
        expect((await service.messagesAfter(id, 0, 200)).messages.map((m) => [m.seq, m.content])).toEqual([
          [1, 'before'],
          [2, 'after'],
        ]);
      });
    }

    it('returns a stored message exactly as it reads back, sent alone or in a batch', async () => {
      const service = new ConversationsService(dataSource);
      const { id } = await service.create('alice', 'rows', []);
      const alone = await say(service, id, 'alone');
      const batch = await Promise.all([say(service, id, 'one'), say(service, id, 'two')]);
      const repository = dataSource.getRepository(Message);
      for (const { message } of [alone, ...batch]) {
        expect(message).toEqual(await repository.findOneByOrFail({ id: message.id }));
      }
    });

    if (kind === 'postgres') {
      it('sends its statements named (prepared once per connection), and keeps storing after a column is added to messages', async () => {
        // One pooled connection, so the statements prepared before the ALTER are the ones used after it.
        const single = await openAnother({ poolSize: 1 });
        const service = new ConversationsService(single);
        const { id } = await service.create('alice', 'prepared', []);
        const statements = spyOnStatements(single);
        try {
          await say(service, id, 'alone');
          await Promise.all([say(service, id, 'one'), say(service, id, 'two')]);
          // Another pod's migration, under this running service and its prepared statements.
          await dataSource.query('ALTER TABLE messages ADD COLUMN later_column text');
          await say(service, id, 'alone again');
          await Promise.all([say(service, id, 'three'), say(service, id, 'four')]);
          const names = statements.mock.calls.map((call) => (call[0] as { name?: string }).name);
          expect(names).toHaveLength(4);
          for (const name of names) expect(name).toMatch(/^chat_insert_message/);
        } finally {
          statements.mockRestore();
          await dataSource.query('ALTER TABLE messages DROP COLUMN IF EXISTS later_column');
          await single.destroy();
        }
        expect(
          (await new ConversationsService(dataSource).messagesAfter(id, 0, 200)).messages.map(
            (m) => m.content,
          ),
        ).toEqual(['alone', 'one', 'two', 'alone again', 'three', 'four']);
      });
    }

    if (kind === 'postgres') {
      it('never deadlocks two writers that send to the same conversations in opposite orders', async () => {
        const second = await openAnother();
        // A deadlock (or any refused batch) would show as the one-message statement of the fallback.
        const statements = [spyOnStatements(dataSource), spyOnStatements(second)];
        try {
          const [one, two] = [new ConversationsService(dataSource), new ConversationsService(second)];
          const ids: string[] = [];
          for (let i = 0; i < 4; i++) ids.push((await one.create('alice', `c${i}`, ['bob'])).id);
          const batchesBefore = statements.map((spy) => spy.mock.calls.length);
          const send = (service: ConversationsService, conversationId: string, author: string) =>
            say(service, conversationId, author, { authorId: author });
          for (let round = 0; round < 10; round++) {
            await Promise.all([
              ...ids.map((id) => send(one, id, 'alice')),
              ...[...ids].reverse().map((id) => send(two, id, 'bob')),
            ]);
          }
          const inserts = statements.flatMap((spy, i) => spy.mock.calls.slice(batchesBefore[i]));
          expect(inserts).toHaveLength(20);
          for (const call of inserts) expect(textOf(call)).toContain('unnest');
          for (const id of ids) {
            const seqs = (await one.messagesAfter(id, 0, 200)).messages.map((m) => m.seq);
            expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
          }
        } finally {
          for (const spy of statements) spy.mockRestore();
          await second.destroy();
        }
      });
    }

    if (kind === 'sqlite') {
      it("waits for another connection's write lock without blocking the event loop, then stores the message", async () => {
        const service = new ConversationsService(dataSource);
        const { id } = await service.create('alice', 'locked', []);
        // Another process's transaction, as another worker's commit would hold it.
        const other = new BetterSqlite3(database.url.slice('sqlite:'.length));
        try {
          other.prepare('BEGIN IMMEDIATE').run();
          // Released by a timer of this same thread: it can only fire if the waiting insert leaves the
          // event loop free (SQLite's own busy handler would block it, and the insert would fail with
          // SQLITE_BUSY after the 5 s busy timeout).
          let ticks = 0;
          const ticker = setInterval(() => ticks++, 10);
          setTimeout(() => other.prepare('COMMIT').run(), 300);
          const { message } = await say(service, id, 'hi').finally(() => clearInterval(ticker));
          expect(message.seq).toBe(1);
          expect(ticks).toBeGreaterThanOrEqual(10);
          expect((await service.messagesAfter(id, 0, 200)).messages.map((m) => m.content)).toEqual(['hi']);
        } finally {
          if (other.inTransaction) other.prepare('ROLLBACK').run();
          other.close();
        }
      });
    }

    it("stores a message sent while this process's transaction is open, even when that transaction rolls back", async () => {
      const service = new ConversationsService(dataSource);
      const { id } = await service.create('alice', 'busy', []);
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      // A TypeORM transaction of this process, open across an await (on SQLite: on the shared
      // connection, where a batch started meanwhile would join it as a savepoint and vanish with it).
      const transaction = runInTransaction(dataSource, async (manager) => {
        await manager.update(Conversation, { id }, { title: 'renamed' });
        await held;
        throw new Error('rolled back');
      });
      const sent = say(service, id, 'during');
      await sleep(50);
      release();
      await expect(transaction).rejects.toThrow('rolled back');
      const { message } = await sent;
      expect(message.seq).toBe(1);
      expect((await service.messagesAfter(id, 0, 200)).messages.map((m) => m.content)).toEqual(['during']);
      expect((await dataSource.getRepository(Conversation).findOneByOrFail({ id })).title).toBe('busy');
    });

    if (kind === 'sqlite') {
      it('never stores a message inside a transaction opened on the shared connection outside exclusively', async () => {
        const service = new ConversationsService(dataSource);
        const { id } = await service.create('alice', 'raw', []);
        // A transaction begun without runInTransaction (as a repository's save() would), then rolled back.
        await dataSource.query('BEGIN');
        const sent = say(service, id, 'outside');
        await sleep(50);
        await dataSource.query('ROLLBACK');
        const { message } = await sent;
        expect(message.seq).toBe(1);
        expect((await service.messagesAfter(id, 0, 200)).messages.map((m) => m.content)).toEqual(['outside']);
      });

      it("writes messages on a connection of its own, closed with the module, and keeps TypeORM's busy timeout", async () => {
        const service = new ConversationsService(dataSource);
        const { id } = await service.create('alice', 'own writer', []);
        await say(service, id, 'first');
        // TypeORM's connection keeps the configured timeout: the writer never touches it.
        expect(await dataSource.query('PRAGMA busy_timeout')).toEqual([{ timeout: 5000 }]);
        service.onModuleDestroy();
        await expect(say(service, id, 'after close')).rejects.toThrow('the message writer is closed');
        expect((await service.messagesAfter(id, 0, 200)).messages.map((m) => m.content)).toEqual(['first']);
      });
    }

    it('refuses a member or message of a conversation that does not exist', async () => {
      await expect(
        dataSource.getRepository(ConversationMember).insert({ conversationId: randomUUID(), userId: 'x' }),
      ).rejects.toBeInstanceOf(QueryFailedError);
      await expect(dataSource.getRepository(Message).insert(message(randomUUID(), 1))).rejects.toBeInstanceOf(
        QueryFailedError,
      );
    });
  });
});
