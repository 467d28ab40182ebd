import type { DataSource } from 'typeorm';
import { exclusively } from '../database/transaction.js';

/** The part of better-sqlite3's Database used here (TypeORM does not type its connection). */
interface SqliteDatabase {
  readonly inTransaction: boolean;
  prepare(sql: string): { get(...params: unknown[]): unknown };
  transaction<A extends unknown[], R>(fn: (...args: A) => R): { immediate(...args: A): R };
}

interface Pending {
  params: unknown[];
  resolve(row: Record<string, unknown>): void;
  reject(error: unknown): void;
}

/**
 * Inserts messages on SQLite with group commit: every insert asked for within one event-loop turn is
 * written in ONE `BEGIN IMMEDIATE … COMMIT`. Each commit takes the database's single write lock, and
 * all workers of the host share it; a worker that finds it taken sleeps inside SQLite's busy handler
 * (1 ms and up, with its event loop blocked). Under load many messages arrive per turn, so batching
 * cuts lock takes, WAL writes and those sleeps by the batch size; when idle a batch is one message and
 * costs one `setImmediate` of latency.
 *
 * Statements run on better-sqlite3 directly (this is the chat's hot path; TypeORM's query building
 * cost more CPU than the statement) and under `exclusively`, so no TypeORM transaction of this process
 * is open on the shared connection meanwhile. A statement that fails (a unique index refusing a
 * repeated clientMessageId) fails alone: SQLite aborts that statement, not the transaction.
 */
type Outcome = { row: Record<string, unknown> } | { error: unknown };

export class SqliteMessageInserter {
  private pending: Pending[] = [];
  private batch?: { immediate(items: Pending[]): Outcome[] };

  constructor(
    private readonly dataSource: DataSource,
    private readonly sql: string,
  ) {}

  /** Runs the INSERT … RETURNING with these parameters in the next batch; resolves to the row. */
  insert(params: unknown[]): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      this.pending.push({ params, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    await exclusively(this.dataSource, async () => {
      const items = this.pending;
      this.pending = [];
      let outcomes: Outcome[];
      try {
        outcomes = this.transaction().immediate(items);
      } catch (error) {
        // BEGIN or COMMIT failed (e.g. the write lock stayed busy past the timeout): nothing was stored.
        for (const item of items) item.reject(error);
        return;
      }
      // Settled only after COMMIT: an acknowledged message is already durable.
      items.forEach((item, i) => {
        const outcome = outcomes[i];
        if ('row' in outcome) item.resolve(outcome.row);
        else item.reject(outcome.error);
      });
    });
  }

  private transaction(): { immediate(items: Pending[]): Outcome[] } {
    if (this.batch) return this.batch;
    const database = (this.dataSource.driver as unknown as { databaseConnection: SqliteDatabase })
      .databaseConnection;
    const statement = database.prepare(this.sql);
    this.batch = database.transaction((items: Pending[]) =>
      items.map((item): Outcome => {
        try {
          return { row: statement.get(...item.params) as Record<string, unknown> };
        } catch (error) {
          // An error that rolled the whole transaction back (I/O, disk full) must fail the batch, not
          // let the next statements commit one by one outside it.
          if (!database.inTransaction) throw error;
          return { error };
        }
      }),
    );
    return this.batch;
  }
}
