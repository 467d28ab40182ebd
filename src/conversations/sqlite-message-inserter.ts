import { setTimeout as delay } from 'node:timers/promises';
import type { Database as SqliteDatabase, Transaction } from 'better-sqlite3';
import type { DataSource } from 'typeorm';
import { databaseErrorCode } from '../database/database-error.js';
import { exclusively } from '../database/transaction.js';
import { GroupCommitInserter, INSERT_COLUMNS, type PendingInsert } from './group-commit.js';

type Outcome = { row: Record<string, unknown> } | { error: unknown };
/** One try at the write lock: every message's outcome, or the busy error when another connection held it. */
type Attempt = { outcomes: Outcome[] } | { busy: unknown };

interface Prepared {
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
 * lock is awaited on a timer under `exclusively`, not in SQLite's busy handler, which blocks the event loop.
 */
export class SqliteMessageInserter extends GroupCommitInserter {
  private prepared?: Prepared;

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
    const { database, batch, busyTimeoutMs } = this.prepare();
    if (database.inTransaction) return { busy: new Error('the connection is inside another transaction') };
    // pragma(), not a prepared statement: SQLite applies busy_timeout when the statement is prepared.
    database.pragma('busy_timeout = 0');
    try {
      return { outcomes: batch.immediate(items) };
    } catch (error) {
      // better-sqlite3 reports extended codes (SQLITE_BUSY_RECOVERY while another process recovers the WAL).
      if (String(databaseErrorCode(error)).startsWith('SQLITE_BUSY')) return { busy: error };
      throw error;
    } finally {
      database.pragma(`busy_timeout = ${busyTimeoutMs}`);
    }
  }

  private prepare(): Prepared {
    if (this.prepared) return this.prepared;
    const database = (this.dataSource.driver as unknown as { databaseConnection: SqliteDatabase })
      .databaseConnection;
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
    const busyTimeoutMs = Number(database.pragma('busy_timeout', { simple: true }));
    this.prepared = { database, batch, busyTimeoutMs };
    return this.prepared;
  }
}
