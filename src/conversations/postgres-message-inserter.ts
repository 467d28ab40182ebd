import type { Pool } from 'pg';
import type { DataSource } from 'typeorm';
import { databaseErrorCode } from '../database/database-error.js';
import {
  GroupCommitInserter,
  INSERT_COLUMNS,
  type MessageInsertParams,
  type PendingInsert,
} from './group-commit.js';

/** Columns named, not `*`: a prepared statement fails if another pod's migration adds a column. */
const RETURNING =
  'RETURNING id, conversation_id, seq, role, author_id, content, status, sources, client_message_id, ' +
  'stream_index, created_at, updated_at';

/** One message: the conversation's `last_seq` rises by one and the message takes it. */
const SINGLE_SQL =
  `WITH next AS (UPDATE conversations SET last_seq = last_seq + 1 WHERE id = $2 RETURNING last_seq) ` +
  `INSERT INTO messages (${INSERT_COLUMNS}) SELECT $1, $2, next.last_seq, $3, $4, $5, $6, $7 FROM next ` +
  RETURNING;

/**
 * One statement for a batch across conversations. The UPDATE joins `locked`, so every row lock is taken
 * in id order whatever the plan, and concurrent batches queue instead of deadlocking. Each `last_seq`
 * rises by its count; the messages take the numbers below it in arrival order.
 */
const BATCH_SQL = `
WITH input AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
    WITH ORDINALITY AS t(id, conversation_id, role, author_id, content, status, client_message_id, ord)
), locked AS MATERIALIZED (
  SELECT id FROM conversations WHERE id IN (SELECT conversation_id FROM input) ORDER BY id FOR UPDATE
), counts AS (
  SELECT conversation_id, count(*) AS n FROM input GROUP BY conversation_id
), bumped AS (
  UPDATE conversations c SET last_seq = c.last_seq + counts.n
  FROM locked JOIN counts ON counts.conversation_id = locked.id
  WHERE c.id = locked.id
  RETURNING c.id, c.last_seq, counts.n
)
INSERT INTO messages (${INSERT_COLUMNS})
SELECT i.id, i.conversation_id,
  b.last_seq - b.n + row_number() OVER (PARTITION BY i.conversation_id ORDER BY i.ord),
  i.role, i.author_id, i.content, i.status, i.client_message_id
FROM input i JOIN bumped b ON b.id = i.conversation_id
${RETURNING}`;

/** Refused for one message or the lock order (SQLSTATE 22, 23, 40): retry each alone; else fail all. */
function isRefusal(error: unknown): boolean {
  const code = databaseErrorCode(error);
  return typeof code === 'string' && ['22', '23', '40'].includes(code.slice(0, 2));
}

const PARAMS = 7;

/**
 * Group commit on PostgreSQL: a batch is ONE statement (0002). A batch of one, a refused batch and a
 * message whose conversation is gone are sent alone, so each outcome is told apart.
 */
export class PostgresMessageInserter extends GroupCommitInserter {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  protected async commit(items: PendingInsert[]): Promise<void> {
    let alone = items;
    if (items.length > 1) {
      const columns = Array.from({ length: PARAMS }, (_, c) => items.map((item) => item.params[c] ?? null));
      const rows = await this.run('chat_insert_messages', BATCH_SQL, columns).catch((error: unknown) => {
        if (!isRefusal(error)) throw error;
        return [];
      });
      const byId = new Map(rows.map((row) => [row.id, row]));
      alone = [];
      for (const item of items) {
        const row = byId.get(item.params[0]);
        if (row) item.resolve(row);
        else alone.push(item);
      }
    }
    // One after the other: in arrival order, on one pooled connection at a time.
    for (const item of alone) await this.single(item.params).then(item.resolve, item.reject);
  }

  private async single(params: MessageInsertParams): Promise<Record<string, unknown>> {
    const rows = await this.run('chat_insert_message', SINGLE_SQL, params);
    if (rows.length === 0) throw new Error(`Conversation ${params[1]} does not exist`);
    return rows[0];
  }

  /** A named statement on TypeORM's pool: planned once per connection (planning cost more than running). */
  private async run(name: string, text: string, values: unknown[]): Promise<Record<string, unknown>[]> {
    const pool = (this.dataSource.driver as unknown as { master: Pool }).master;
    return (await pool.query<Record<string, unknown>>({ name, text, values })).rows;
  }
}
