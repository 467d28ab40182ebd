import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import type { DatabaseConfig } from '../config/app-config.js';
import { InitialSchema1764270000000 } from './migrations/1764270000000-initial-schema.js';
import { Documents1764300000000 } from './migrations/1764300000000-documents.js';
import { StreamingIndex1764400000000 } from './migrations/1764400000000-streaming-index.js';
import { ClientIdPerConversation1764500000000 } from './migrations/1764500000000-client-id-per-conversation.js';

const MIGRATIONS = [
  InitialSchema1764270000000,
  Documents1764300000000,
  StreamingIndex1764400000000,
  ClientIdPerConversation1764500000000,
];

/** The entity classes a data source maps (the service's: `ENTITIES` in src/entities.ts). */
export type EntityList = NonNullable<DataSourceOptions['entities']>;

/** TypeORM options; the schema comes from migrations only, never `synchronize`. */
export function dataSourceOptions(config: DatabaseConfig, entities: EntityList): DataSourceOptions {
  const common = {
    entities,
    migrations: MIGRATIONS,
    synchronize: false,
    logging: false,
  } as const;
  if (config.type === 'postgres') {
    return { ...common, type: 'postgres', url: config.location, poolSize: 10, connectTimeoutMS: 5000 };
  }
  if (config.location !== ':memory:') mkdirSync(dirname(config.location), { recursive: true });
  return {
    ...common,
    type: 'better-sqlite3',
    database: config.location,
    // WAL: readers go on while one process writes; the busy timeout makes a writer wait, not fail.
    enableWAL: true,
    timeout: 5000,
    prepareDatabase: (db: { pragma(sql: string): unknown }) => {
      db.pragma('foreign_keys = ON');
      // Under WAL, NORMAL survives any process crash and skips FULL's fsync per commit (which blocked the
      // event loop); only an OS crash can lose the last commits, and production runs PostgreSQL (0002).
      db.pragma('synchronous = NORMAL');
    },
  };
}
