import { setTimeout as delay } from 'node:timers/promises';
import BetterSqlite3, { type Database as SqliteDatabase, type Transaction } from 'better-sqlite3';
import type { DataSource } from 'typeorm';
import { databaseErrorCode } from '../database/database-error.js';
import { exclusively } from '../database/transaction.js';
import { GroupCommitInserter, INSERT_COLUMNS, type PendingInsert } from './group-commit.js';

type Outcome = { row: Record<string, unknown> } | { error: unknown };
/** One try at the write lock: every message's outcome, or the busy error when another connection held it. */
type Attempt = { outcomes: Outcome[] } | { busy: unknown };

interface Prepared {
  /** The writer's own connection (busy timeout 0), or TypeORM's for an in-memory database. */
  database: SqliteDatabase;
  batch: Transaction<(items: PendingInsert[]) => Outcome[]>;
  /** The connection's busy timeout (TypeORM's `timeout`): how long a batch may wait for the write lock. */
  busyTimeoutMs: number;
}

/** The next seq is `MAX(seq) + 1` inside the INSERT: the database write lock makes it atomic. */
const SQL =
  `INSERT INTO messages (${INSERT_COLUMNS}) SELECT ?, ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ? ` +
  `FROM messages WHERE conversation_id = ? RETURNING *`;

/** Between two tries at a write lock held by another process: a timer, so the event loop runs meanwhile. */
const LOCK_RETRY_MS = 1;

/**
 * Group commit on SQLite: a batch is ONE `BEGIN IMMEDIATE … COMMIT` on better-sqlite3 (0002). The write
 * lock is awaited on a timer under `exclusively`, not in SQLite's busy handler, which blocks the event loop:
 * batches run on a connection of their own whose busy timeout is 0, so `BEGIN IMMEDIATE` fails at once
 * while another connection writes, and TypeORM's connection keeps its timeout (0015).
 */
export class SqliteMessageInserter extends GroupCommitInserter {
  private prepared?: Prepared;
  private closed = false;

  constructor(private readonly dataSource: DataSource) {
    super();
  }

  protected async commit(items: PendingInsert[]): Promise<void> {
    // A failure here (BEGIN or COMMIT) stored nothing. Usually the lock is free: commit without the mutex.
    const first = this.attempt(items);
    const outcomes =
      'outcomes' in first
        ? first.outcomes
        : await exclusively(this.dataSource, () => this.transaction(items));
    // Settled only after COMMIT: an acknowledged message is already durable.
    items.forEach((item, i) => {
      const outcome = outcomes[i];
      if ('row' in outcome) item.resolve(outcome.row);
      else item.reject(outcome.error);
    });
  }

  /** One transaction for `items`, retried on a timer while another connection holds the write lock. */
  private async transaction(items: PendingInsert[]): Promise<Outcome[]> {
    const deadline = performance.now() + this.prepare().busyTimeoutMs;
    for (;;) {
      const attempt = this.attempt(items);
      if ('outcomes' in attempt) return attempt.outcomes;
      if (performance.now() >= deadline) throw attempt.busy;
      await delay(LOCK_RETRY_MS);
    }
  }

  /** `BEGIN IMMEDIATE` without waiting, or `busy` (another writer, or a transaction open here). */
  private attempt(items: PendingInsert[]): Attempt {
    const { database, batch } = this.prepare();
    if (database.inTransaction) return { busy: new Error('the connection is inside another transaction') };
    try {
      return { outcomes: batch.immediate(items) };
    } catch (error) {
      // better-sqlite3 reports extended codes (SQLITE_BUSY_RECOVERY while another process recovers the WAL).
      if (String(databaseErrorCode(error)).startsWith('SQLITE_BUSY')) return { busy: error };
      throw error;
    }
  }

  override close(): void {
    this.closed = true;
    const own = this.prepared?.database;
    this.prepared = undefined;
    if (own && own !== this.shared() && own.open) own.close();
  }

  private shared(): SqliteDatabase {
    return (this.dataSource.driver as unknown as { databaseConnection: SqliteDatabase }).databaseConnection;
  }

  /** An in-memory database exists only on TypeORM's connection; it has no other writer to wait for. */
  private writerConnection(shared: SqliteDatabase): SqliteDatabase {
    if (shared.memory) return shared;
    const own = new BetterSqlite3(shared.name, { timeout: 0 });
    own.pragma('foreign_keys = ON');
    own.pragma('synchronous = NORMAL');
    return own;
  }

  private prepare(): Prepared {
    if (this.prepared) return this.prepared;
    if (this.closed) throw new Error('the message writer is closed');
    const shared = this.shared();
    const busyTimeoutMs = Number(shared.pragma('busy_timeout', { simple: true }));
    const database = this.writerConnection(shared);
    const statement = database.prepare(SQL);
    const batch = database.transaction((items: PendingInsert[]) =>
      items.map((item): Outcome => {
        try {
          // The conversation id binds twice: the new row's, and MAX(seq)'s lookup.
          return { row: statement.get(...item.params, item.params[1]) as Record<string, unknown> };
        } catch (error) {
          // An error that rolled the whole transaction back (I/O, disk full) must fail the batch, not
          // let the next statements commit one by one outside it.
          if (!database.inTransaction) throw error;
          return { error };
        }
      }),
    );
    this.prepared = { database, batch, busyTimeoutMs };
    return this.prepared;
  }
}
