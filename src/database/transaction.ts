import { Mutex } from 'async-mutex';
import type { DataSource, EntityManager } from 'typeorm';

const turns = new WeakMap<DataSource, Mutex>();

/**
 * Runs `work` as the only writer of this process on a SQLite DataSource. TypeORM drives better-sqlite3
 * through ONE connection per DataSource: a transaction open on it would swallow any other statement
 * sent meanwhile (and roll it back with its own), and two transactions would nest ("cannot start a
 * transaction within a transaction"). PostgreSQL gives each caller its own pooled connection, so there
 * `work` simply runs.
 */
export function exclusively<T>(dataSource: DataSource, work: () => Promise<T>): Promise<T> {
  if (dataSource.options.type !== 'better-sqlite3') return work();
  let mutex = turns.get(dataSource);
  if (!mutex) turns.set(dataSource, (mutex = new Mutex()));
  return mutex.runExclusive(work);
}

/** `dataSource.transaction(work)`, safe to call concurrently on SQLite too (see `exclusively`). */
export function runInTransaction<T>(
  dataSource: DataSource,
  work: (manager: EntityManager) => Promise<T>,
): Promise<T> {
  return exclusively(dataSource, () => dataSource.transaction(work));
}
