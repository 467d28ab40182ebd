import type { Logger } from '@nestjs/common';
import lockfile from 'proper-lockfile';
import type { DataSource } from 'typeorm';

/** Any constant shared by every process of this service; "chat" in ASCII. */
const MIGRATION_LOCK_KEY = 0x63686174;

/**
 * Applies pending migrations with a lock held across processes, so workers and pods that boot together
 * do not race: the first applies them, the rest wait, then find nothing left to do.
 * PostgreSQL: a session advisory lock. SQLite: a lock directory beside the database file.
 */
export async function runMigrationsExclusively(dataSource: DataSource, logger: Logger): Promise<void> {
  const apply = async () => {
    const applied = await dataSource.runMigrations({ transaction: 'all' });
    if (applied.length > 0) logger.log(`Database migrations applied: ${applied.map((m) => m.name).join(', ')}`);
    else logger.log('Database schema is up to date');
  };

  if (dataSource.options.type === 'postgres') {
    const runner = dataSource.createQueryRunner();
    try {
      await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      try {
        await apply();
      } finally {
        await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
      }
    } finally {
      await runner.release();
    }
    return;
  }

  const release = await lockfile.lock(String(dataSource.options.database), {
    realpath: false,
    // A lock left by a process that died mid-migration is taken over after this long.
    stale: 30_000,
    retries: { retries: 100, minTimeout: 50, maxTimeout: 500 },
  });
  try {
    await apply();
  } finally {
    await release();
  }
}
