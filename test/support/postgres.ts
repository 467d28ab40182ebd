import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { DatabaseConfig } from '../../src/config/app-config.js';
import { registerUrlPassword } from './log-audit.js';

/** Set by `.ci/run` (and by developers) to also run database tests against PostgreSQL. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;

/** The database kinds a database test runs against: SQLite always, PostgreSQL when configured. */
export const DATABASE_KINDS: ('sqlite' | 'postgres')[] = TEST_DATABASE_URL
  ? ['sqlite', 'postgres']
  : ['sqlite'];

/**
 * A fresh, empty PostgreSQL database for one test (so migrations start from nothing), dropped by `drop()`.
 */
export async function createPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  if (!TEST_DATABASE_URL) throw new Error('TEST_DATABASE_URL is not set');
  // No service may print it (see log-audit.ts).
  registerUrlPassword('PostgreSQL password', TEST_DATABASE_URL);
  const name = `chat_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** A fresh, empty database of `kind` for one test: its URL (as DATABASE_URL takes it), and how to remove it. */
export async function freshDatabase(
  kind: 'sqlite' | 'postgres',
): Promise<{ url: string; drop(): Promise<void> }> {
  if (kind === 'postgres') return createPostgresDatabase();
  const dir = mkdtempSync(join(tmpdir(), 'chat-db-'));
  return {
    url: `sqlite:${join(dir, 'chat.db')}`,
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The service's DatabaseConfig for a DATABASE_URL. */
export function databaseConfigFor(url: string): DatabaseConfig {
  return url.startsWith('sqlite:')
    ? { type: 'sqlite', location: url.slice('sqlite:'.length) }
    : { type: 'postgres', location: url };
}
