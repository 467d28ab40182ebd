import { Mutex } from 'async-mutex';
import type { DataSource, EntityManager } from 'typeorm';

const turns = new WeakMap<DataSource, Mutex>();

/**
 * `dataSource.transaction(work)`, safe to call concurrently on SQLite too. TypeORM drives
 * better-sqlite3 through ONE connection per DataSource, so two transactions started at once would nest
 * on it ("cannot start a transaction within a transaction"); there they take turns. PostgreSQL gives
 * each transaction its own pooled connection and needs no turns. Use this for every transaction.
 */
export function runInTransaction<T>(
  dataSource: DataSource,
  work: (manager: EntityManager) => Promise<T>,
): Promise<T> {
  if (dataSource.options.type !== 'better-sqlite3') return dataSource.transaction(work);
  let mutex = turns.get(dataSource);
  if (!mutex) turns.set(dataSource, (mutex = new Mutex()));
  return mutex.runExclusive(() => dataSource.transaction(work));
}
