import { Mutex } from 'async-mutex';
import type { DataSource, EntityManager } from 'typeorm';

const turns = new WeakMap<DataSource, Mutex>();

/**
 * Runs `work` as this process's only writer on SQLite, where TypeORM has ONE connection per DataSource:
 * an open transaction would swallow other statements or nest. On PostgreSQL `work` simply runs.
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
