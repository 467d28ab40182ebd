import type { Logger } from '@nestjs/common';
import lockfile from 'proper-lockfile';
import type { DataSource } from 'typeorm';

/** Any constant shared by every process of this service; "chat" in ASCII. */
const MIGRATION_LOCK_KEY = 0x63686174;

/** Runs `work` under a lock shared by every process on this database. */
export async function withMigrationLock<T>(dataSource: DataSource, work: () => Promise<T>): Promise<T> {
  if (dataSource.options.type === 'postgres') {
    const runner = dataSource.createQueryRunner();
    try {
      await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      try {
        return await work();
      } finally {
        await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
      }
    } finally {
      await runner.release();
    }
  }
  const release = await lockfile.lock(String(dataSource.options.database), {
    realpath: false,
    // A lock left by a process that died mid-migration is taken over after this long.
    stale: 30_000,
    retries: { retries: 200, minTimeout: 50, maxTimeout: 500 },
  });
  try {
    return await work();
  } finally {
    await release();
  }
}

/** Applies pending migrations under the migration lock, so processes booting together do not race. */
export async function runMigrationsExclusively(
  dataSource: DataSource,
  logger: Pick<Logger, 'log'>,
): Promise<void> {
  logger.log('Checking database migrations (waiting for the migration lock if another process holds it)');
  await withMigrationLock(dataSource, async () => {
    const applied = await dataSource.runMigrations({ transaction: 'all' });
    if (applied.length > 0)
      logger.log(`Database migrations applied: ${applied.map((m) => m.name).join(', ')}`);
    else logger.log('Database schema is up to date');
  });
}
